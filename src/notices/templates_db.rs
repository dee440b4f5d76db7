//! The tenant's own wording of notices (`notice_templates`), and the one
//! read everybody uses: [`wording`], the tenant's template or the built-in.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Kind, template};

/// The (subject, body) a notice of `kind` on `channel` in `lang` is rendered
/// from: the tenant's own when it saved one, else [`template::builtin`].
pub async fn wording(conn: &mut PgConnection, kind: Kind, channel: &str, lang: &str) -> sqlx::Result<(String, String)> {
    Ok(match saved(conn, kind, channel, lang).await? {
        Some(t) => (t.subject, t.body),
        None => {
            let (subject, body) = template::builtin(kind, lang);
            (subject.to_owned(), body.to_owned())
        }
    })
}

/// A template the tenant saved.
#[derive(Clone, Debug)]
pub struct Saved {
    pub subject: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

pub async fn saved(conn: &mut PgConnection, kind: Kind, channel: &str, lang: &str) -> sqlx::Result<Option<Saved>> {
    sqlx::query_as!(
        Saved,
        "SELECT subject, body, updated_at, updated_by FROM notice_templates WHERE kind = $1 AND channel = $2 AND lang = $3",
        kind.as_str(),
        channel,
        lang
    )
    .fetch_optional(conn)
    .await
}

/// Which (kind, channel, lang) the tenant has worded itself.
pub async fn own_keys(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, String, String)>> {
    let rows = sqlx::query!("SELECT kind, channel, lang FROM notice_templates ORDER BY kind, channel, lang")
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.kind, r.channel, r.lang)).collect())
}

/// Saves the tenant's wording (checked by the caller with `template::check`).
pub async fn save(
    conn: &mut PgConnection,
    kind: Kind,
    channel: &str,
    lang: &str,
    subject: &str,
    body: &str,
    by: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO notice_templates (tenant_id, kind, channel, lang, subject, body, updated_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, kind, channel, lang)
         DO UPDATE SET subject = EXCLUDED.subject, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
        kind.as_str(),
        channel,
        lang,
        subject,
        body,
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the tenant's wording (back to the built-in); whether there was one.
pub async fn reset(conn: &mut PgConnection, kind: Kind, channel: &str, lang: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM notice_templates WHERE kind = $1 AND channel = $2 AND lang = $3",
        kind.as_str(),
        channel,
        lang
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
