//! The platform admin's work: tenants and the migration status.

pub mod pages;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::db::MIGRATOR;

pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied_at: Option<DateTime<Utc>>,
    /// False when the applied script differs from the one in this build.
    pub checksum_ok: bool,
}

/// Every migration this build knows, with when it was applied (if it was).
pub async fn migration_status(pool: &PgPool) -> sqlx::Result<Vec<MigrationStatus>> {
    let applied = sqlx::query!("SELECT version, installed_on, checksum FROM _sqlx_migrations WHERE success")
        .fetch_all(pool)
        .await?;
    Ok(MIGRATOR
        .iter()
        .map(|m| {
            let row = applied.iter().find(|a| a.version == m.version);
            MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                applied_at: row.map(|r| r.installed_on),
                checksum_ok: row.is_none_or(|r| r.checksum == *m.checksum),
            }
        })
        .collect())
}
