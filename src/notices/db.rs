//! Creating notices, set-based: whoever makes notices (the planner, the due
//! scan, planned outages, broadcasts) fills the transaction's
//! `notice_targets` with customers and calls [`enqueue`], which picks each
//! customer's language and channels and writes one notice per customer,
//! skipping kinds they opted out of and keys that exist already.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{DEFAULT_CHANNELS, Kind};

/// Creates the transaction's scratch table of targets if it is not there.
/// Rows are the caller's until [`enqueue`] takes them.
pub async fn prepare_targets(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS notice_targets (
             customer_id uuid NOT NULL,
             event_ref   text NOT NULL,
             data        jsonb NOT NULL DEFAULT '{}',
             not_before  timestamptz NOT NULL
         ) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One customer to notify, for [`add_targets`].
pub struct Target {
    pub customer_id: Uuid,
    pub event_ref: String,
    pub data: Value,
    pub not_before: chrono::DateTime<chrono::Utc>,
}

/// Adds targets from Rust values (callers with a query add theirs with
/// `INSERT INTO notice_targets SELECT ...`).
pub async fn add_targets(conn: &mut PgConnection, targets: &[Target]) -> sqlx::Result<()> {
    prepare_targets(conn).await?;
    let ids: Vec<Uuid> = targets.iter().map(|t| t.customer_id).collect();
    let refs: Vec<String> = targets.iter().map(|t| t.event_ref.clone()).collect();
    let data: Vec<Value> = targets.iter().map(|t| t.data.clone()).collect();
    let at: Vec<_> = targets.iter().map(|t| t.not_before).collect();
    sqlx::query(
        "INSERT INTO notice_targets (customer_id, event_ref, data, not_before)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[])",
    )
    .bind(&ids)
    .bind(&refs)
    .bind(&data)
    .bind(&at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Where `channel` reaches `customer` (NULL: nowhere), as an expression
/// over the customer's row `c` and their preferences' row `p` (LEFT JOINed
/// on the customer), with the tenant `tenant` named in its subqueries. It is
/// `gridcrm_notice_address` (migration 0027) written out on rows the
/// statement joins anyway: the function, called per customer and channel,
/// took ~0.1 ms a row at 200,000 targets, and on a Citus cluster it cannot
/// run inside a statement sent to a shard (its queries are distributed
/// ones). Keep the two in step.
pub fn address_sql(channel: &str, customer: &str, tenant: &str) -> String {
    format!(
        "NULLIF(btrim(CASE {channel}
            WHEN 'sms' THEN coalesce(p.sms_phone, c.phone)
            WHEN 'phone' THEN coalesce(c.phone,
                (SELECT k.phone FROM customer_contacts k WHERE k.tenant_id = {tenant} AND k.customer_id = {customer}
                 AND k.phone IS NOT NULL ORDER BY k.is_primary DESC, k.id LIMIT 1))
            WHEN 'email' THEN coalesce(p.email,
                (SELECT k.email FROM customer_contacts k WHERE k.tenant_id = {tenant} AND k.customer_id = {customer}
                 AND k.email IS NOT NULL ORDER BY k.is_primary DESC, k.id LIMIT 1))
            WHEN 'wechat' THEN p.wechat_openid
            WHEN 'letter' THEN c.address
          END), '')"
    )
}

/// Writes a notice of `kind` for every target and empties the targets.
/// `channels` overrides the customers' own order (empty: theirs, or
/// [`DEFAULT_CHANNELS`] when they stated none); channels without an address
/// for the customer are left out, and the first one left is used, the rest
/// kept as its fallback. `common` holds the fields all targets share; each
/// target's own `data` wins over it, and the customer's name and account
/// number and the tenant's name are added. Returns the notices created.
pub async fn enqueue(conn: &mut PgConnection, kind: Kind, channels: &[String], common: &Value) -> sqlx::Result<u64> {
    prepare_targets(conn).await?;
    let default: Vec<String> = DEFAULT_CHANNELS.iter().map(|c| c.to_string()).collect();
    // Every tenant table names the tenant ($6): on Citus the statement then
    // goes to the tenant's shard, the temporary targets sent along with it.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    // The key's shape is super::idempotency_key's.
    let created: i64 = sqlx::query_scalar(&format!(
        r#"WITH s AS (
             SELECT coalesce((SELECT default_lang FROM notice_settings WHERE tenant_id = $6), 'zh-CN') AS lang,
                    (SELECT name FROM tenants WHERE id = $6) AS tenant_name
           ), t AS MATERIALIZED (
             SELECT t.customer_id, t.event_ref, t.data, t.not_before, c.name, c.account_no,
                    coalesce(p.lang, s.lang) AS lang, s.tenant_name,
                    -- The address written out on the rows joined here (see address_sql).
                    ARRAY(SELECT o.ch FROM unnest(CASE WHEN cardinality($2::text[]) > 0 THEN $2::text[]
                                                       WHEN cardinality(c.preferred_channels) > 0 THEN c.preferred_channels
                                                       ELSE $3::text[] END) WITH ORDINALITY AS o (ch, n)
                          WHERE {address} IS NOT NULL
                          ORDER BY o.n) AS chans
             FROM notice_targets t
             JOIN customers c ON c.tenant_id = $6 AND c.id = t.customer_id
             LEFT JOIN notice_preferences p ON p.tenant_id = $6 AND p.customer_id = t.customer_id
             CROSS JOIN s
             WHERE NOT EXISTS (SELECT 1 FROM notice_opt_outs x
                               WHERE x.tenant_id = $6 AND x.customer_id = t.customer_id AND x.kind = $1)
           ), ins AS (
             INSERT INTO notices (tenant_id, id, customer_id, kind, channel, event_ref, idempotency_key, lang,
                                  data, fallback, urgent, next_attempt_at)
             SELECT $6, gen_random_uuid(), t.customer_id, $1, t.chans[1], t.event_ref,
                    $1 || ':' || replace(t.customer_id::text, '-', '') || ':' || t.event_ref || ':' || t.chans[1],
                    t.lang,
                    $4::jsonb || jsonb_build_object('customer_name', t.name, 'account_no', t.account_no,
                                                    'tenant_name', t.tenant_name) || t.data,
                    t.chans[2:], $5, t.not_before
             FROM t WHERE cardinality(t.chans) > 0
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
             RETURNING 1
           )
           SELECT count(*) FROM ins"#,
        address = address_sql("o.ch", "t.customer_id", "$6")
    ))
    .bind(kind.as_str())
    .bind(channels)
    .bind(&default)
    .bind(common)
    .bind(kind.urgent())
    .bind(tenant_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM notice_targets").execute(conn).await?;
    Ok(created as u64)
}

/// Marks a notice failed with `error` and, when the customer has another
/// channel left, queues the notice on it at once (its own key, the rest of
/// the order as its fallback). Returns that channel. A notice already
/// finished is left alone (`None`).
pub async fn fail_and_fall_back(conn: &mut PgConnection, notice_id: Uuid, error: &str) -> sqlx::Result<Option<String>> {
    let next: Option<(Option<String>,)> = sqlx::query_as(
        r#"WITH f AS (
             UPDATE notices SET status = 'failed', failed_at = now(), last_error = $2, lease_until = NULL
             WHERE id = $1 AND status IN ('queued', 'sending')
             RETURNING tenant_id, customer_id, kind, event_ref, lang, data, fallback, urgent
           ), next AS (
             INSERT INTO notices (tenant_id, id, customer_id, kind, channel, event_ref, idempotency_key, lang,
                                  data, fallback, urgent, next_attempt_at)
             SELECT tenant_id, gen_random_uuid(), customer_id, kind, fallback[1], event_ref,
                    kind || ':' || replace(customer_id::text, '-', '') || ':' || event_ref || ':' || fallback[1],
                    lang, data, fallback[2:], urgent, now()
             FROM f WHERE cardinality(fallback) > 0
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
             RETURNING channel
           )
           SELECT (SELECT channel FROM next) FROM f"#,
    )
    .bind(notice_id)
    .bind(error)
    .fetch_optional(conn)
    .await?;
    Ok(next.and_then(|(c,)| c))
}
