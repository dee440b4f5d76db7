//! Personal information in the database: everything held about one
//! customer as one JSON document, and the anonymisation of a closed account.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::DEFAULT_RETENTION_YEARS;

/// One customer's export: the account number and the JSON document as text.
pub struct Export {
    pub account_no: String,
    pub json: String,
}

/// Everything held about customer `id` as a JSON document (see
/// [`super::service::PersonalData`]): under `data` one key per kind of
/// record, each the rows as stored (without `tenant_id`), written by
/// PostgreSQL so money keeps its exact decimals; `None` when the customer is
/// not in this tenant. Audit entries are those about the customer, its
/// supply points, contacts, work orders, bills and payments.
pub async fn export(conn: &mut PgConnection, id: Uuid, exported_by: &str) -> sqlx::Result<Option<Export>> {
    // Every table names the tenant ($4): Citus sends the statement to the
    // tenant's shard (it refuses these correlated subqueries across shards).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        Export,
        r#"SELECT c.account_no AS "account_no!", jsonb_build_object(
             'format', $2::text, 'exported_at', now(), 'exported_by', $3::text, 'customer_id', c.id,
             'account_no', c.account_no, 'data', jsonb_build_object(
             'customer', to_jsonb(c) - 'tenant_id',
             'tags', (SELECT coalesce(jsonb_agg(x.tag_code ORDER BY x.tag_code), '[]') FROM customer_tags x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'customer_contacts', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.id), '[]') FROM customer_contacts x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'supply_points', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.id), '[]') FROM supply_points x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'meter_installations', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.installed_on, x.id), '[]')
                                       FROM meter_installations x JOIN supply_points s ON s.tenant_id = x.tenant_id AND s.id = x.supply_point_id
                                      WHERE x.tenant_id = $4 AND s.customer_id = c.id),
             'meters', (SELECT coalesce(jsonb_agg(to_jsonb(m) - 'tenant_id' ORDER BY m.serial), '[]') FROM meters m
                         WHERE m.tenant_id = $4
                           AND m.id IN (SELECT x.meter_id FROM meter_installations x
                                        JOIN supply_points s ON s.tenant_id = x.tenant_id AND s.id = x.supply_point_id
                                        WHERE x.tenant_id = $4 AND s.customer_id = c.id)),
             'meter_readings', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.read_on, x.id), '[]') FROM meter_readings x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'supply_contracts', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.starts_on), '[]') FROM supply_contracts x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'contacts', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.received_at, x.id), '[]') FROM contacts x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'work_orders', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.created_at, x.id), '[]') FROM work_orders x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'visits', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.planned_on, x.id), '[]') FROM visits x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'notices', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.created_at, x.id), '[]') FROM notices x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'notice_preferences', (SELECT to_jsonb(x) - 'tenant_id' FROM notice_preferences x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'notice_opt_outs', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.kind), '[]') FROM notice_opt_outs x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'bills', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.period, x.id), '[]') FROM bills x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'bill_credits', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.created_at, x.id), '[]') FROM bill_credits x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'payments', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.received_at, x.id), '[]') FROM payments x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'refunds', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.recorded_at, x.id), '[]') FROM customer_refunds x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'cost_control', (SELECT to_jsonb(x) - 'tenant_id' FROM cost_control_agreements x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'credit_ratings', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.month), '[]') FROM credit_ratings x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'credit_events', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.occurred_on, x.id), '[]') FROM credit_events x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'credit_securities', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.received_on, x.id), '[]') FROM credit_securities x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'poor_credit_list', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.entered_on, x.id), '[]') FROM poor_credit_list x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'points_ledger', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.at, x.id), '[]') FROM points_ledger x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'points_redemptions', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.at, x.id), '[]') FROM points_redemptions x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'value_tier', (SELECT to_jsonb(x) - 'tenant_id' FROM customer_values x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'demand_response', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.invited_at), '[]') FROM dr_invitations x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'timeline', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.at, x.id), '[]') FROM customer_timeline x WHERE x.tenant_id = $4 AND x.customer_id = c.id),
             'audit', (SELECT coalesce(jsonb_agg(to_jsonb(a) - 'tenant_id' ORDER BY a.at, a.id), '[]') FROM audit_log a
                        WHERE a.tenant_id = $4
                          AND (a.entity_id = c.id
                               OR a.entity_id IN (SELECT s.id FROM supply_points s WHERE s.tenant_id = $4 AND s.customer_id = c.id
                                   UNION ALL SELECT k.id FROM contacts k WHERE k.tenant_id = $4 AND k.customer_id = c.id
                                   UNION ALL SELECT w.id FROM work_orders w WHERE w.tenant_id = $4 AND w.customer_id = c.id
                                   UNION ALL SELECT b.id FROM bills b WHERE b.tenant_id = $4 AND b.customer_id = c.id
                                   UNION ALL SELECT p.id FROM payments p WHERE p.tenant_id = $4 AND p.customer_id = c.id)))
           ))::text AS "json!"
           FROM customers c WHERE c.tenant_id = $4 AND c.id = $1"#,
        id,
        super::service::FORMAT,
        exported_by,
        tenant_id
    )
    .fetch_optional(conn)
    .await
}

/// Adds what the customer portal holds about customer `id` to an export's
/// document, under `data.portal`: the logins linked to the account (never a
/// password hash), its online payment orders, the documents uploaded for
/// its applications (what they are, their size and SHA-256; the files
/// themselves are given on request, not in the JSON) and the answers to
/// return visits. Merged by PostgreSQL so the document's numbers stay exact.
pub async fn add_portal(conn: &mut PgConnection, id: Uuid, json: &str) -> sqlx::Result<String> {
    // The tenant named ($3), as in `export`.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_scalar(
        r#"SELECT jsonb_set($1::jsonb, '{data,portal}', jsonb_build_object(
             'logins', (SELECT coalesce(jsonb_agg(jsonb_build_object('login', u.login, 'registered_at', u.created_at,
                                                                     'linked_at', l.linked_at) ORDER BY l.linked_at), '[]')
                          FROM portal_links l JOIN portal_users u ON u.tenant_id = l.tenant_id AND u.id = l.portal_user_id
                         WHERE l.tenant_id = $3 AND l.customer_id = $2),
             'payment_orders', (SELECT coalesce(jsonb_agg(to_jsonb(x) - 'tenant_id' ORDER BY x.created_at, x.id), '[]')
                                  FROM portal_payment_orders x WHERE x.tenant_id = $3 AND x.customer_id = $2),
             'application_documents', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                           'id', d.id, 'work_order_id', d.work_order_id, 'document', d.document,
                                           'file_name', d.file_name, 'content_type', d.content_type,
                                           'size_bytes', d.size_bytes, 'sha256', encode(d.sha256, 'hex'),
                                           'uploaded_by', d.uploaded_by, 'uploaded_at', d.uploaded_at)
                                         ORDER BY d.uploaded_at, d.id), '[]')
                                         FROM application_documents d
                                         JOIN work_orders w ON w.tenant_id = d.tenant_id AND w.id = d.work_order_id
                                        WHERE d.tenant_id = $3 AND w.customer_id = $2),
             'return_visits', (SELECT coalesce(jsonb_agg(to_jsonb(v) - 'tenant_id' ORDER BY v.created_at, v.id), '[]')
                                 FROM return_visits v JOIN contacts k ON k.tenant_id = v.tenant_id AND k.id = v.contact_id
                                WHERE v.tenant_id = $3 AND k.customer_id = $2)))::text"#,
    )
    .bind(json)
    .bind(id)
    .bind(tenant_id)
    .fetch_one(conn)
    .await
}

/// An account as far as anonymisation goes, locked for the change.
pub struct Account {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub status: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub anonymised_at: Option<DateTime<Utc>>,
}

pub async fn account_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Account>> {
    // The tenant named, as db::lock_row explains.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        Account,
        "SELECT id, account_no, name, status, closed_at, anonymised_at FROM customers
         WHERE tenant_id = $2 AND id = $1 FOR UPDATE",
        id,
        tenant_id
    )
    .fetch_optional(conn)
    .await
}

/// The account as shown on its privacy page.
pub async fn account(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        "SELECT id, account_no, name, status, closed_at, anonymised_at FROM customers WHERE id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

/// The tenant's retention period in years (the default when it set none).
pub async fn retention_years(conn: &mut PgConnection) -> sqlx::Result<i32> {
    let set = sqlx::query_scalar!("SELECT retention_years FROM privacy_settings").fetch_optional(conn).await?;
    Ok(set.unwrap_or(DEFAULT_RETENTION_YEARS))
}

/// A company's retention settings: years after closing before an account
/// may be anonymised, years of interval data and of audit log kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    pub closed_account_years: i32,
    pub interval_years: i32,
    pub audit_years: i32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            closed_account_years: DEFAULT_RETENTION_YEARS,
            interval_years: super::retention::DEFAULT_INTERVAL_YEARS,
            audit_years: super::retention::DEFAULT_AUDIT_YEARS,
        }
    }
}

/// The tenant's retention settings (the defaults when it set none).
pub async fn retention_settings(conn: &mut PgConnection) -> sqlx::Result<RetentionSettings> {
    let set = sqlx::query_as!(
        RetentionSettings,
        // The tenant named explicitly: `gridcrm retention run` reads this as the owner.
        "SELECT retention_years AS closed_account_years, interval_years, audit_years FROM privacy_settings
         WHERE tenant_id = app_tenant_id()"
    )
    .fetch_optional(conn)
    .await?;
    Ok(set.unwrap_or_default())
}

/// Saves the tenant's retention settings.
pub async fn save_retention_settings(conn: &mut PgConnection, s: &RetentionSettings) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO privacy_settings (tenant_id, retention_years, interval_years, audit_years)
         VALUES (app_tenant_id(), $1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET retention_years = EXCLUDED.retention_years,
             interval_years = EXCLUDED.interval_years, audit_years = EXCLUDED.audit_years, updated_at = EXCLUDED.updated_at",
        s.closed_account_years,
        s.interval_years,
        s.audit_years
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Interval readings of this tenant from `from` up to (not including)
/// `before`: counted, or deleted when `delete`. Runs as the owner (the
/// application may not delete interval data), with the tenant set.
pub async fn expire_interval(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    before: DateTime<Utc>,
    delete: bool,
) -> sqlx::Result<i64> {
    if !delete {
        return sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM interval_data WHERE tenant_id = app_tenant_id() AND ts >= $1 AND ts < $2"#,
            from,
            before
        )
        .fetch_one(conn)
        .await;
    }
    let done = sqlx::query!(
        "DELETE FROM interval_data WHERE tenant_id = app_tenant_id() AND ts >= $1 AND ts < $2",
        from,
        before
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() as i64)
}

/// Audit entries of this tenant older than `before`: counted, or deleted
/// when `delete` (as the owner; the application may only add entries).
pub async fn expire_audit(conn: &mut PgConnection, before: DateTime<Utc>, delete: bool) -> sqlx::Result<i64> {
    if !delete {
        return sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM audit_log WHERE tenant_id = app_tenant_id() AND at < $1"#,
            before
        )
        .fetch_one(conn)
        .await;
    }
    let done = sqlx::query!("DELETE FROM audit_log WHERE tenant_id = app_tenant_id() AND at < $1", before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() as i64)
}

/// The monthly partitions of interval data, with their size on disk.
pub async fn interval_partitions(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT c.relname::text AS "name!", pg_total_relation_size(c.oid) AS "bytes!"
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'interval_data'::regclass ORDER BY c.relname"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.bytes)).collect())
}

/// Detaches a monthly partition without blocking readers and writers of
/// the others, then drops it. `name` comes from [`interval_partitions`] and
/// was checked by [`super::retention::partition_month`]; as the owner,
/// outside a transaction (a concurrent detach cannot run inside one).
/// Citus 12.1 refuses a concurrent detach: on a cluster the detach is a
/// plain one, which holds the table's readers and writers back while it runs.
pub async fn drop_interval_partition(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    use sqlx::Executor;
    debug_assert!(super::retention::partition_month(name).is_some());
    let on_citus: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
        .fetch_one(&mut *conn)
        .await?;
    let concurrently = if on_citus { "" } else { " CONCURRENTLY" };
    conn.execute(format!("ALTER TABLE interval_data DETACH PARTITION {name}{concurrently}").as_str()).await?;
    conn.execute(format!("DROP TABLE {name}").as_str()).await?;
    Ok(())
}

/// The closed, not yet anonymised accounts closed before `closed_before`,
/// oldest closing first.
pub async fn eligible(conn: &mut PgConnection, closed_before: DateTime<Utc>) -> sqlx::Result<Vec<Account>> {
    sqlx::query_as!(
        Account,
        "SELECT id, account_no, name, status, closed_at, anonymised_at FROM customers
          WHERE status = 'closed' AND anonymised_at IS NULL AND closed_at <= $1
          ORDER BY closed_at, id",
        closed_before
    )
    .fetch_all(conn)
    .await
}

/// How many rows of each kind an anonymisation changed (no personal data).
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Anonymised {
    pub customer_contacts: u64,
    pub supply_points: u64,
    pub contacts: u64,
    pub work_orders: u64,
    pub visits: u64,
    pub credit_events: u64,
    pub notices: u64,
    pub notice_preferences: u64,
    pub timeline: u64,
    pub audit_entries_redacted: i64,
    /// Portal: the links of logins to the account, the logins left with no
    /// account (erased and closed), and the documents of its applications.
    pub portal_links: u64,
    pub portal_logins_erased: u64,
    pub application_documents: u64,
}

/// Replaces the personal data of customer `id` by `mark` (names) or blanks
/// (phones, ID number, e-mail, addresses, free texts), in the caller's
/// transaction. Bills, payments, refunds and other financial rows are not
/// touched: their amounts, dates and the account number stay. The name
/// index (`customer_name_grams`) follows the new name by its trigger.
pub async fn anonymise(conn: &mut PgConnection, id: Uuid, mark: &str) -> sqlx::Result<Anonymised> {
    // First, while the values to cut out of earlier audit entries are still there.
    let audit_entries_redacted =
        sqlx::query_scalar!(r#"SELECT gridcrm_redact_customer_audit($1) AS "n!""#, id).fetch_one(&mut *conn).await?;
    sqlx::query!(
        "UPDATE customers SET name = $2, address = '', phone = NULL, id_number = NULL, preferred_channels = '{}',
                quiet_from = NULL, quiet_to = NULL, anonymised_at = now(), version = version + 1
          WHERE id = $1",
        id,
        mark
    )
    .execute(&mut *conn)
    .await?;
    let mut done = Anonymised {
        customer_contacts: sqlx::query!(
            "UPDATE customer_contacts SET name = $2, phone = NULL, email = NULL, role = '' WHERE customer_id = $1",
            id,
            mark
        )
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        audit_entries_redacted,
        ..Default::default()
    };
    done.supply_points = sqlx::query!("UPDATE supply_points SET address = '' WHERE customer_id = $1", id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    done.contacts = sqlx::query!(
        "UPDATE contacts SET caller_name = $2, caller_phone = NULL, description = $2, resolution = ''
          WHERE customer_id = $1",
        id,
        mark
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    done.work_orders = sqlx::query!(
        "UPDATE work_orders SET title = $2, description = '', address = '', supervision_note = '', supply_plan = ''
          WHERE customer_id = $1",
        id,
        mark
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    done.visits = sqlx::query!("UPDATE visits SET purpose = $2, outcome = '' WHERE customer_id = $1", id, mark)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    done.notices = sqlx::query!(
        "UPDATE notices SET address = '', data = gridcrm_redact_personal(data) WHERE customer_id = $1",
        id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    done.notice_preferences = sqlx::query!(
        "UPDATE notice_preferences SET email = NULL, sms_phone = NULL, wechat_openid = NULL, bill_content = 'off'
          WHERE customer_id = $1",
        id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // Titles of contacts, work orders and visits quote what the caller said;
    // those of bills, payments and refunds are numbers and stay.
    done.timeline = sqlx::query!(
        "UPDATE customer_timeline SET title = $2
          WHERE customer_id = $1 AND kind NOT IN ('bill', 'payment', 'refund', 'meter', 'points', 'cost_control')",
        id,
        mark
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!("UPDATE notice_outbox SET title = $2 WHERE customer_id = $1", id, mark).execute(&mut *conn).await?;
    // A breach or theft stays on record (kind and date); its evidence text may name people.
    done.credit_events = sqlx::query!("UPDATE credit_events SET evidence = $2 WHERE customer_id = $1", id, mark)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    anonymise_portal(conn, id, &mut done).await?;
    Ok(done)
}

/// The portal's part: the account leaves every login's list; a login left
/// with no account is erased (its mobile number or e-mail replaced, its
/// password unusable, its sessions ended); the codes sent for the account,
/// the documents uploaded for its applications (identity cards, deeds) and
/// what the customer said at return visits are gone.
async fn anonymise_portal(conn: &mut PgConnection, id: Uuid, done: &mut Anonymised) -> sqlx::Result<()> {
    let users: Vec<Uuid> =
        sqlx::query_scalar("DELETE FROM portal_links WHERE customer_id = $1 RETURNING portal_user_id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    done.portal_links = users.len() as u64;
    let orphans: Vec<Uuid> = sqlx::query_scalar(
        "SELECT u.id FROM portal_users u WHERE u.id = ANY($1)
            AND NOT EXISTS (SELECT 1 FROM portal_links l WHERE l.tenant_id = u.tenant_id AND l.portal_user_id = u.id)",
    )
    .bind(&users)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE portal_user_id = ANY($1)")
        .bind(&orphans)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM portal_codes WHERE customer_id = $1 OR requested_by = ANY($2)")
        .bind(id)
        .bind(&orphans)
        .execute(&mut *conn)
        .await?;
    done.portal_logins_erased = sqlx::query(
        "UPDATE portal_users SET login = 'erased-' || replace(id::text, '-', ''), password_hash = '!',
                locked_until = 'infinity' WHERE id = ANY($1)",
    )
    .bind(&orphans)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    done.application_documents = sqlx::query(
        "DELETE FROM application_documents d USING work_orders w
          WHERE w.tenant_id = d.tenant_id AND w.id = d.work_order_id AND w.customer_id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE return_visits v SET remarks = '' FROM contacts k
          WHERE k.tenant_id = v.tenant_id AND k.id = v.contact_id AND k.customer_id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
