//! The read path of interval data: `load_days`, one row per meter and local
//! day with the day's demand as an array (see migration 0035 for why). A
//! load marks what it stored; [`rebuild_everywhere`], a job every minute,
//! rebuilds the marked days.

use chrono::NaiveDate;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Marks the meters' days from `first` to `last` (local dates) for the rebuild.
pub async fn mark(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    meters: &[Uuid],
    first: NaiveDate,
    last: NaiveDate,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO load_day_marks (tenant_id, meter_id, first_day, last_day) SELECT $1, m, $3, $4 FROM unnest($2::uuid[]) m
         RETURNING NULL AS not_by_copy",
        tenant_id,
        meters,
        first,
        last
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// Rebuilds the meters' days from `first` to `last` (local dates) from the
/// stored interval data. Returns the number of days written.
pub async fn rebuild(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    meters: &[Uuid],
    first: NaiveDate,
    last: NaiveDate,
) -> sqlx::Result<i64> {
    let written = sqlx::query_scalar!(
        r#"SELECT gridcrm_rebuild_load_days($1, $2, $3, $4) AS "written!""#,
        tenant_id,
        meters,
        first,
        last
    )
    .fetch_one(&mut *conn)
    .await?;
    // Readers plan against these rows next (a forecast right after a load):
    // a large rebuild leaves statistics behind it.
    if written >= ANALYZE_AFTER_DAYS {
        crate::db::analyze_tables(conn, &["load_days"]).await?;
    }
    Ok(written)
}

const ANALYZE_AFTER_DAYS: i64 = 1_000;

/// Rebuilds one tenant's marked days and clears the marks, in one
/// transaction (a mark made meanwhile waits for the next run: the delete
/// takes only the marks it read). Returns the days written.
pub async fn rebuild_marked(pool: &PgPool, tenant_id: Uuid) -> sqlx::Result<i64> {
    let mut tx = crate::db::begin_tenant(pool, tenant_id, None).await?;
    let marks = sqlx::query!(
        r#"DELETE FROM load_day_marks WHERE tenant_id = $1 RETURNING meter_id, first_day, last_day"#,
        tenant_id
    )
    .fetch_all(&mut *tx)
    .await?;
    // One rebuild per range: a load marks all its meters with one range.
    let mut ranges: std::collections::BTreeMap<(NaiveDate, NaiveDate), Vec<Uuid>> = Default::default();
    for m in marks {
        ranges.entry((m.first_day, m.last_day)).or_default().push(m.meter_id);
    }
    let mut written = 0;
    for ((first, last), mut meters) in ranges {
        meters.sort_unstable();
        meters.dedup();
        written += rebuild(&mut tx, tenant_id, &meters, first, last).await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// The job: every tenant's marked days.
pub async fn rebuild_everywhere(pool: &PgPool) -> sqlx::Result<i64> {
    // The marks are under the tenant policy: each tenant looks at its own.
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut written = 0;
    for tenant in tenants {
        written += rebuild_marked(pool, tenant).await?;
    }
    Ok(written)
}
