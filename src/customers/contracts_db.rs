//! Supply contracts in the database.

use sqlx::PgConnection;
use uuid::Uuid;

use super::contracts::{Contract, NewContract};

/// A customer's contracts, the latest to start first (the first is the one in force).
pub async fn for_customer(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Vec<Contract>> {
    sqlx::query_as!(
        Contract,
        r#"SELECT id, contract_no, starts_on, expires_on, recorded_by, recorded_at
           FROM supply_contracts WHERE customer_id = $1
           ORDER BY starts_on DESC, recorded_at DESC"#,
        customer_id
    )
    .fetch_all(conn)
    .await
}

/// The contract in force (or about to be): the latest to start.
pub async fn current(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Option<Contract>> {
    sqlx::query_as!(
        Contract,
        r#"SELECT id, contract_no, starts_on, expires_on, recorded_by, recorded_at
           FROM supply_contracts WHERE customer_id = $1
           ORDER BY starts_on DESC, recorded_at DESC LIMIT 1"#,
        customer_id
    )
    .fetch_optional(conn)
    .await
}

/// Records a contract; `None` when the company has one with this number already.
pub async fn record(
    conn: &mut PgConnection,
    customer_id: Uuid,
    new: &NewContract,
    recorded_by: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO supply_contracts (tenant_id, id, customer_id, contract_no, starts_on, expires_on, recorded_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, contract_no) DO NOTHING
           RETURNING id"#,
        Uuid::now_v7(),
        customer_id,
        new.contract_no,
        new.starts_on,
        new.expires_on,
        recorded_by
    )
    .fetch_optional(conn)
    .await
}
