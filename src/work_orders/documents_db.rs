//! The SQL of application documents (`documents` holds the rules).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::work_orders::documents::Upload;

/// A stored document, without its content.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DocumentLine {
    pub id: Uuid,
    pub work_order_id: Uuid,
    pub document: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i32,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

impl DocumentLine {
    /// The size as people read it: "320 KB", "1.4 MB".
    pub fn size(&self) -> String {
        let bytes = f64::from(self.size_bytes);
        if bytes < 1024.0 * 1024.0 {
            format!("{} KB", (bytes / 1024.0).ceil())
        } else {
            format!("{:.1} MB", bytes / 1024.0 / 1024.0)
        }
    }
}

/// A document with its content, to serve.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DocumentFile {
    pub file_name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Stores an upload for an order; `portal_user_id` when a customer sent it.
pub async fn insert(
    conn: &mut PgConnection,
    work_order_id: Uuid,
    upload: &Upload,
    content: &[u8],
    portal_user_id: Option<Uuid>,
    uploaded_by: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO application_documents (tenant_id, id, work_order_id, document, file_name, content_type,
                size_bytes, sha256, content, portal_user_id, uploaded_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(work_order_id)
    .bind(&upload.document)
    .bind(&upload.file_name)
    .bind(upload.content_type)
    .bind(i32::try_from(content.len()).unwrap_or(i32::MAX))
    .bind(&upload.sha256)
    .bind(content)
    .bind(portal_user_id)
    .bind(uploaded_by)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The documents of an order the caller may see, oldest first.
pub async fn for_order(conn: &mut PgConnection, work_order_id: Uuid) -> sqlx::Result<Vec<DocumentLine>> {
    sqlx::query_as(
        "SELECT id, work_order_id, document, file_name, content_type, size_bytes, uploaded_by, uploaded_at
         FROM application_documents WHERE work_order_id = $1 ORDER BY uploaded_at, id",
    )
    .bind(work_order_id)
    .fetch_all(conn)
    .await
}

/// How many documents an order holds (all of them, whoever uploaded).
pub async fn count(conn: &mut PgConnection, work_order_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM application_documents WHERE work_order_id = $1")
        .bind(work_order_id)
        .fetch_one(conn)
        .await
}

/// One document of an order, if the caller may see it.
pub async fn file(conn: &mut PgConnection, work_order_id: Uuid, id: Uuid) -> sqlx::Result<Option<DocumentFile>> {
    sqlx::query_as(
        "SELECT file_name, content_type, content FROM application_documents WHERE work_order_id = $1 AND id = $2",
    )
    .bind(work_order_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}
