//! Tenants: the companies that share one gridcrm deployment.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    audit::{self, Actor, Change},
    customers::reference,
    web::error::FieldErrors,
};

pub struct TenantInput<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub time_zone: &'a str,
    pub account_prefix: &'a str,
    pub is_platform: bool,
}

#[derive(Debug)]
pub struct ValidTenant {
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub account_prefix: String,
    pub is_platform: bool,
}

pub fn validate(input: &TenantInput) -> Result<ValidTenant, FieldErrors> {
    let mut errors = FieldErrors::default();
    let slug = input.slug.trim().to_lowercase();
    let slug_ok = (2..=40).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if !slug_ok {
        errors.add("slug", "slug_format");
    }
    let name = crate::web::input::visible_text(input.name, 200, "name", true, &mut errors);
    let time_zone = match input.time_zone.trim() {
        "" => "Asia/Shanghai".to_owned(),
        tz => tz.to_owned(),
    };
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        errors.add("time_zone", "time_zone_unknown");
    }
    let account_prefix = match input.account_prefix.trim() {
        "" => "01".to_owned(),
        p => p.to_owned(),
    };
    if !(2..=6).contains(&account_prefix.len()) || !account_prefix.bytes().all(|b| b.is_ascii_digit()) {
        errors.add("account_prefix", "account_prefix_format");
    }
    errors.finish(ValidTenant { slug, name, time_zone, account_prefix, is_platform: input.is_platform })
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("invalid tenant")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Creates a tenant with the default reference lists, its account-number
/// counter and the default notice rules, all in one transaction.
pub async fn create(pool: &PgPool, t: &ValidTenant, actor: &Actor) -> Result<Uuid, CreateError> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO tenants (id, slug, name, time_zone, is_platform) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (slug) DO NOTHING",
        id,
        t.slug,
        t.name,
        t.time_zone,
        t.is_platform
    )
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        let mut errors = FieldErrors::default();
        errors.add("slug", "slug_taken");
        return Err(CreateError::Invalid(errors));
    }
    crate::db::set_tenant(&mut tx, id, None).await?;
    sqlx::query!("INSERT INTO account_number_sequences (tenant_id, prefix) VALUES ($1, $2)", id, t.account_prefix)
        .execute(&mut *tx)
        .await?;
    reference::install_defaults(&mut tx).await?;
    sqlx::query!("SELECT gridcrm_install_service_defaults($1)", id).fetch_one(&mut *tx).await?;
    // The national holidays and make-up days, so clocks are right from the first day.
    sqlx::query!("SELECT gridcrm_install_national_calendar($1)", id).fetch_one(&mut *tx).await?;
    sqlx::query!("SELECT gridcrm_install_billing_defaults($1)", id).fetch_one(&mut *tx).await?;
    if !t.is_platform {
        sqlx::query!("SELECT gridcrm_install_notice_defaults($1)", id).fetch_one(&mut *tx).await?;
    }
    let after = serde_json::json!({"slug": t.slug, "name": t.name, "time_zone": t.time_zone, "account_prefix": t.account_prefix});
    audit::record(
        &mut tx,
        actor,
        Change {
            action: "create",
            entity: "tenant",
            entity_id: Some(id),
            summary: t.slug.clone(),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub is_platform: bool,
    pub created_at: DateTime<Utc>,
}

pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<TenantRow>> {
    sqlx::query_as!(TenantRow, "SELECT id, slug, name, time_zone, is_platform, created_at FROM tenants ORDER BY slug")
        .fetch_all(pool)
        .await
}

pub async fn find_by_slug(pool: &PgPool, slug: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", slug).fetch_optional(pool).await
}

/// The current tenant's today, in its time zone.
pub async fn today(conn: &mut PgConnection) -> sqlx::Result<NaiveDate> {
    sqlx::query_scalar!(
        r#"SELECT (now() AT TIME ZONE time_zone)::date AS "day!" FROM tenants WHERE id = app_tenant_id()"#
    )
    .fetch_one(conn)
    .await
}

/// The first day of the current tenant's month, in its time zone.
pub async fn current_month(conn: &mut PgConnection) -> sqlx::Result<NaiveDate> {
    sqlx::query_scalar!(
        r#"SELECT date_trunc('month', now() AT TIME ZONE time_zone)::date AS "month!" FROM tenants WHERE id = app_tenant_id()"#
    )
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(slug: &'a str, tz: &'a str, prefix: &'a str) -> TenantInput<'a> {
        TenantInput { slug, name: "杭州供电公司", time_zone: tz, account_prefix: prefix, is_platform: false }
    }

    #[test]
    fn defaults_fill_time_zone_and_prefix() {
        let t = validate(&input("Hangzhou", "", "")).unwrap();
        assert_eq!(t.slug, "hangzhou");
        assert_eq!(t.time_zone, "Asia/Shanghai");
        assert_eq!(t.account_prefix, "01");
    }

    #[test]
    fn bad_fields_are_named() {
        let errors = validate(&input("-x y", "Mars/Olympus", "A1")).unwrap_err();
        assert!(errors.has("slug"));
        assert!(errors.has("time_zone"));
        assert!(errors.has("account_prefix"));
    }
}
