//! Scaling out on Citus: distributes the migrated schema by `tenant_id`
//! (`gridcrm citus distribute`, see docs/operations.md, "Scale out on Citus").

use anyhow::{Context, bail};
use sqlx::{ConnectOptions, Connection, PgConnection};

/// The distribution step (run in one transaction, idempotent).
const DISTRIBUTE: &str = include_str!("citus.sql");

/// How the schema's tables are placed on the cluster.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Tables distributed by `tenant_id`, co-located.
    pub distributed: i64,
    /// Tables with a copy on every node.
    pub reference: i64,
    /// Tables kept on the coordinator (in Citus's metadata).
    pub coordinator: i64,
    /// Shard groups of the distributed tables (distinct co-location groups).
    pub colocation_groups: i64,
}

/// What a run did: the placement before and after.
#[derive(Debug)]
pub struct Report {
    pub before: Placement,
    pub after: Placement,
    /// The row triggers that stand for the migrations' statement triggers
    /// with transition tables (which Citus cannot run on its shards: see
    /// `citus.sql` and docs/operations.md).
    pub row_twins: i64,
}

/// Distributes the tables of the database behind `owner_url` (the Citus
/// coordinator), after `gridcrm migrate`. Refuses when the database has no
/// citus extension or no migrations.
pub async fn distribute(owner_url: &str) -> anyhow::Result<Report> {
    // Distributing copies every table's shards: tens of seconds by nature.
    let options = owner_url
        .parse::<sqlx::postgres::PgConnectOptions>()?
        .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1));
    let mut conn = PgConnection::connect_with(&options).await.context("connecting to the coordinator as owner")?;
    let citus: Option<String> = sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
        .fetch_optional(&mut conn)
        .await?;
    if citus.is_none() {
        bail!(
            "the citus extension is not installed in this database: install Citus on every node, run CREATE EXTENSION citus \
             in this database on the coordinator and on each worker (with the same database created there), add the workers \
             from the coordinator (SELECT citus_set_coordinator_host(...); SELECT citus_add_node(...)), then run this again"
        );
    }
    let migrated: bool = sqlx::query_scalar(
        "SELECT to_regclass('public._sqlx_migrations') IS NOT NULL AND to_regclass('public.tenants') IS NOT NULL",
    )
    .fetch_one(&mut conn)
    .await?;
    if !migrated {
        bail!("the database has no gridcrm schema yet: run `gridcrm migrate` first");
    }
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive AND noderole = 'primary'",
    )
    .fetch_one(&mut conn)
    .await?;
    if workers == 0 {
        bail!("the coordinator has no worker nodes: add them first (SELECT citus_add_node('host', port))");
    }
    let before = placement(&mut conn).await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(DISTRIBUTE).execute(&mut *tx).await.context("distributing the tables")?;
    tx.commit().await?;
    let after = placement(&mut conn).await?;
    let row_twins: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
          JOIN pg_dist_partition p ON p.logicalrelid = t.tgrelid
          WHERE NOT t.tgisinternal AND f.proname LIKE 'gridcrm\\_%\\_row'",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(Report { before, after, row_twins })
}

/// Whether the database behind `pool` is a Citus cluster with distributed
/// tables (`gridcrm citus distribute` has run).
pub async fn is_distributed(pool: &sqlx::PgPool) -> sqlx::Result<bool> {
    let citus: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
        .fetch_one(pool)
        .await?;
    if !citus {
        return Ok(false);
    }
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE partmethod = 'h')").fetch_one(pool).await
}

async fn placement(conn: &mut PgConnection) -> sqlx::Result<Placement> {
    let (distributed, reference, coordinator, colocation_groups) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE partmethod = 'h'),
                count(*) FILTER (WHERE repmodel = 't'),
                count(*) FILTER (WHERE partmethod = 'n' AND repmodel <> 't'),
                count(DISTINCT colocationid) FILTER (WHERE partmethod = 'h')
           FROM pg_dist_partition p
           JOIN pg_class c ON c.oid = p.logicalrelid
          WHERE NOT c.relispartition",
    )
    .fetch_one(conn)
    .await?;
    Ok(Placement { distributed, reference, coordinator, colocation_groups })
}
