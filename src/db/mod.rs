//! Connection pools, migrations, the embedded cluster and the tenant-scoped
//! transaction through which all tenant work goes.

pub mod citus;
pub mod embedded;
pub mod numeric;

use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use uuid::Uuid;

use crate::config::Config;

/// A transaction in which `app.tenant_id` is set: row-level security limits
/// every statement in it to that tenant.
pub type Tx = Transaction<'static, Postgres>;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database a process works with: the owner URL (for migrations and admin
/// commands), the application pool, and the embedded cluster if we run one.
pub struct Database {
    pub owner_url: String,
    /// For requests: a statement slower than a second is logged as a warning.
    pub app: PgPool,
    /// For bulk work (bill runs and the other jobs, seeding, imports): the
    /// same role, but its long statements are expected and logged at debug.
    pub bulk: PgPool,
    pub embedded: Option<embedded::EmbeddedPostgres>,
}

impl Database {
    /// Connects to the configured database, or starts the embedded cluster when
    /// none is configured. Migrations are applied when `migrate` is true.
    pub async fn open(config: &Config, migrate: bool) -> anyhow::Result<Self> {
        let (owner_url, embedded) = match &config.database_url {
            Some(url) => (url.expose().to_owned(), None),
            None => {
                let cluster = embedded::EmbeddedPostgres::start(&config.data_dir.join("pg")).await?;
                let admin_url = cluster.superuser_url("postgres");
                ensure_database(&admin_url, "gridcrm").await?;
                (cluster.superuser_url("gridcrm"), Some(cluster))
            }
        };
        if migrate {
            run_migrations(&owner_url).await?;
        }
        let app_url = config.app_database_url.as_ref().map(|s| s.expose().to_owned());
        let app = app_pool(&owner_url, app_url.as_deref(), config.max_connections).await?;
        // Two batches of a bill run side by side per worker, and a heartbeat.
        let bulk_connections = (config.job_workers as u32 * 3).max(4);
        let bulk = pool(&owner_url, app_url.as_deref(), bulk_connections, Workload::Bulk).await?;
        Ok(Self { owner_url, app, bulk, embedded })
    }

    /// Closes the pool and stops the embedded cluster, if any.
    pub async fn close(mut self) {
        self.app.close().await;
        self.bulk.close().await;
        if let Some(cluster) = self.embedded.as_mut()
            && let Err(err) = cluster.stop().await
        {
            tracing::warn!(error = %err, "embedded PostgreSQL did not stop cleanly");
        }
    }
}

/// Creates `name` on the server behind `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(admin_url).await.context("connecting to PostgreSQL")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        conn.execute(format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8'").as_str()).await?;
    }
    Ok(())
}

/// Applies pending migrations as the owner role.
pub async fn run_migrations(owner_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(owner_url).await.context("connecting to PostgreSQL as owner")?;
    MIGRATOR.run(&mut conn).await.context("applying migrations")?;
    Ok(())
}

/// The pool the server does all its tenant work with. It is the application
/// role, by its own login or through `SET ROLE`, and start-up refuses to go on
/// if that role could bypass row-level security.
pub async fn app_pool(owner_url: &str, app_url: Option<&str>, max: u32) -> anyhow::Result<PgPool> {
    pool(owner_url, app_url, max, Workload::Requests).await
}

/// What a pool's connections are for, which decides how a slow statement is
/// logged: in a request it is something an operator should look at; in a
/// bulk step (a month of readings, a batch of bills) it is the expected cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Requests,
    Bulk,
}

async fn pool(owner_url: &str, app_url: Option<&str>, max: u32, workload: Workload) -> anyhow::Result<PgPool> {
    let switch_role = app_url.is_none();
    let slow_level = match workload {
        Workload::Requests => log::LevelFilter::Warn,
        Workload::Bulk => log::LevelFilter::Debug,
    };
    let options: PgConnectOptions = app_url
        .unwrap_or(owner_url)
        .parse::<PgConnectOptions>()
        .context("parsing the database URL")?
        .log_slow_statements(slow_level, Duration::from_secs(1));
    // Bulk statements are estimated at millions of rows, where the JIT
    // compiles their expressions for longer than it then saves (seen: seconds
    // per metrics month, a value recompute) — they are plain scans, joins and
    // aggregates.
    let options = match workload {
        Workload::Requests => options,
        Workload::Bulk => options.options([("jit", "off")]),
    };
    // After PostgreSQL restarts, every pooled connection is dead. sqlx pings
    // each connection as it is released (off the request's path); one idle
    // for longer than a second is pinged again before a request gets it, so
    // a dead one is replaced instead of failing the request, while a request
    // that follows another at once saves that round trip. While the server
    // is down, a request waits at most the acquire timeout for a connection,
    // then fails.
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > Duration::from_secs(1) {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if switch_role {
                    conn.execute("SET ROLE gridcrm_app").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .context("connecting the application pool")?;
    check_app_role(&pool).await?;
    Ok(pool)
}

async fn check_app_role(pool: &PgPool) -> anyhow::Result<()> {
    let row = sqlx::query!(
        r#"SELECT r.rolsuper AS "superuser!", r.rolbypassrls AS "bypass_rls!",
                  (SELECT count(*) FROM pg_tables t WHERE t.tableowner = current_user AND t.schemaname = 'public') AS "owned_tables!"
           FROM pg_roles r WHERE r.rolname = current_user"#
    )
    .fetch_one(pool)
    .await?;
    if row.superuser || row.bypass_rls || row.owned_tables > 0 {
        bail!(
            "the application database role can bypass row-level security (superuser, BYPASSRLS or table owner); refusing to start"
        );
    }
    Ok(())
}

/// Begins a transaction scoped to one tenant (and, for audit, one user).
/// `SET LOCAL` is transaction-local, so a pooled connection never carries a
/// tenant into the next request.
pub async fn begin_tenant(pool: &PgPool, tenant_id: Uuid, user_id: Option<Uuid>) -> Result<Tx, sqlx::Error> {
    // BEGIN and the settings go as one simple query: one round trip instead of
    // two.
    pool.begin_with(format!("BEGIN; {}", tenant_settings(tenant_id, user_id))).await
}

/// Begins a tenant's transaction with further settings (`SET LOCAL`s, such
/// as [`GENERIC_PLANS`] or [`NO_PARALLEL_WORKERS`]), in the same round trip.
pub async fn begin_tenant_with(
    pool: &PgPool,
    tenant_id: Uuid,
    user_id: Option<Uuid>,
    settings: &str,
) -> Result<Tx, sqlx::Error> {
    pool.begin_with(format!("BEGIN; {}; {settings}", tenant_settings(tenant_id, user_id))).await
}

/// The transaction's statements run on their generic plans, planned once
/// per connection. PostgreSQL otherwise plans a statement with a range of
/// parameters (`key >= $1 AND key < $2`) anew on every execution, because
/// its generic estimate of such a range is large; for the counter search that
/// planning cost more than the lookups themselves (BENCHMARKS.md). Only for
/// statements written so that their generic plan is the one wanted: index
/// walks under a LIMIT, joins forced into nested loops where a hash join
/// could look cheaper on a default estimate.
pub const GENERIC_PLANS: &str = "SET LOCAL plan_cache_mode = force_generic_plan";

/// The transaction's statements run without parallel workers. For a page
/// that shows a few dozen rows out of a few thousand: the planner, unsure how
/// many rows a filter keeps, may prefer two workers that read and sort them
/// all to walking an index to the page, and on a server whose cores are busy
/// with other requests the workers only add their start (BENCHMARKS.md, the
/// VIP list).
pub const NO_PARALLEL_WORKERS: &str = "SET LOCAL max_parallel_workers_per_gather = 0";

/// Ends an `INSERT … SELECT` whose rows come from outside the tenant tables
/// (a temporary table, `unnest` of bound arrays, `VALUES`, a function). On a
/// Citus cluster the rows of such a statement go to the shards by COPY, which
/// PostgreSQL refuses on a table under row-level security ("COPY FROM not
/// supported with row-level security"); with a `RETURNING` clause Citus
/// inserts them with `INSERT … SELECT` from intermediate results on each
/// shard instead. On one server it only sends the rows' `NULL`s back (about
/// 4 % on a bulk insert of 1,000,000 rows; `ON CONFLICT DO NOTHING`, which
/// would do the same on the cluster, cost 50–70 % and swallows errors).
/// Statements checked by `sqlx::query!` spell the clause out inside their
/// CTEs: grep for `not_by_copy`.
pub const NOT_BY_COPY: &str = "RETURNING NULL AS not_by_copy";

/// `insert_select` with [`NOT_BY_COPY`] at its end.
pub fn not_by_copy(insert_select: &str) -> String {
    format!("{insert_select}\n{NOT_BY_COPY}")
}

/// Begins a transaction as a signed-in portal customer: the role
/// `gridcrm_portal`, whose row-level security shows only the accounts linked
/// to `portal_user_id` in `tenant_id` (migration 0053). The role reverts when
/// the transaction ends.
pub async fn begin_portal(pool: &PgPool, tenant_id: Uuid, portal_user_id: Uuid) -> Result<Tx, sqlx::Error> {
    pool.begin_with(format!(
        "BEGIN; SET LOCAL ROLE gridcrm_portal; {}; SET LOCAL app.portal_user_id = '{portal_user_id}'",
        tenant_settings(tenant_id, None)
    ))
    .await
}

/// The statements that scope the current transaction to a tenant (and a
/// user, or none). `SET LOCAL` rather than `set_config(..., true)`: the two
/// are the same to PostgreSQL, but on a Citus cluster only `SET LOCAL` is
/// passed on to the workers (with `citus.propagate_set_commands = 'local'`,
/// which `gridcrm citus distribute` sets), where the row-level security
/// policies of the shards read `app.tenant_id`. Both values are UUIDs
/// formatted here (hex and dashes only), so nothing from a request reaches
/// the statements' text.
pub fn tenant_settings(tenant_id: Uuid, user_id: Option<Uuid>) -> String {
    let user = user_id.map(|u| u.to_string()).unwrap_or_default();
    format!("SET LOCAL app.tenant_id = '{tenant_id}'; SET LOCAL app.user_id = '{user}'")
}

/// The tenant the open transaction on `conn` is scoped to, for a statement
/// that must name it (a row lock on a Citus cluster) where the caller does
/// not carry it.
pub async fn transaction_tenant(conn: &mut PgConnection) -> sqlx::Result<Uuid> {
    sqlx::query_scalar("SELECT app_tenant_id()").fetch_one(conn).await
}

/// Locks the row `id` of `table` (a constant, never input) for the rest of
/// the transaction; false when the transaction's tenant has none. The tenant
/// is read and named: Citus takes a row lock only in a statement it sends to
/// one shard, and it finds the shard by a bound `tenant_id`, not by
/// row-level security.
pub async fn lock_row(conn: &mut PgConnection, table: &'static str, id: Uuid) -> sqlx::Result<bool> {
    let tenant_id = transaction_tenant(conn).await?;
    let sql = format!("SELECT 1 FROM {table} WHERE tenant_id = $1 AND id = $2 FOR UPDATE");
    Ok(sqlx::query(&sql).bind(tenant_id).bind(id).fetch_optional(conn).await?.is_some())
}

/// Scopes the open transaction on `conn` to a tenant, as `begin_tenant` does.
pub async fn set_tenant(conn: &mut PgConnection, tenant_id: Uuid, user_id: Option<Uuid>) -> sqlx::Result<()> {
    let user = user_id.map(|u| u.to_string()).unwrap_or_default();
    sqlx::query(&format!("SET LOCAL app.tenant_id = '{tenant_id}'")).execute(&mut *conn).await?;
    sqlx::query(&format!("SET LOCAL app.user_id = '{user}'")).execute(&mut *conn).await?;
    Ok(())
}

/// Refreshes the planner's statistics after a bulk load. Only the owner may
/// ANALYZE, and without statistics the first queries after a load plan badly.
pub async fn analyze(owner_url: &str) -> anyhow::Result<()> {
    // A whole-database ANALYZE takes seconds by nature: not a slow statement to warn of.
    let options =
        owner_url.parse::<PgConnectOptions>()?.log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    let mut conn = PgConnection::connect_with(&options).await.context("connecting as owner")?;
    conn.execute("ANALYZE").await?;
    Ok(())
}

/// Analyses `tables` (as their owner, through `gridcrm_analyze`) so that the
/// next bulk step plans from what this one wrote, not from whatever
/// statistics autovacuum happened to leave: a plan chosen on a table taken for
/// nearly empty can turn a seconds-long insert into a quadratic one.
pub async fn analyze_tables(conn: &mut PgConnection, tables: &[&str]) -> sqlx::Result<()> {
    let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
    sqlx::query!("SELECT gridcrm_analyze($1)", &tables).execute(conn).await?;
    Ok(())
}

/// Whether the database answers (for /healthz).
pub async fn ping(pool: &PgPool) -> bool {
    tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(pool)).await.is_ok_and(|r| r.is_ok())
}

/// Maps a constraint violation to the constraint's name, so callers can turn it
/// into a field error ("account number already exists") instead of a 500.
/// Reads a JSON column (a list or row a page's statement aggregated with
/// `json_agg`/`row_to_json`, money and quantities as text so that they stay
/// exact) into the type the area uses. Batching a page's sections into one
/// statement this way saves a round trip each.
pub fn json_column<T: serde::de::DeserializeOwned>(column: &str, value: serde_json::Value) -> sqlx::Result<T> {
    serde_json::from_value(value)
        .map_err(|err| sqlx::Error::ColumnDecode { index: column.to_owned(), source: err.into() })
}

/// `query`'s rows as one JSON array (`[]` when none), in the query's own
/// order: a list that becomes one column of a page's statement, read back
/// with [`json_column`].
pub fn json_rows(query: &str) -> String {
    format!("(SELECT coalesce(json_agg(r), '[]') FROM ({query}) r)")
}

/// `query`'s one row as a JSON object (null when none), for [`json_column`].
pub fn json_row(query: &str) -> String {
    format!("(SELECT row_to_json(r) FROM ({query}) r)")
}

/// A column list with the `decimals` (named by their output name) cast to
/// text, so that a JSON column carries them exactly: `b.amount` becomes
/// `b.amount::text AS amount`. The list's items are split at the commas
/// outside parentheses.
pub fn exact_decimals(columns: &str, decimals: &[&str]) -> String {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in columns.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&columns[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&columns[start..]);
    items
        .iter()
        .map(|item| {
            let item = item.trim();
            let (expr, name) = match item.rsplit_once(" AS ") {
                Some((expr, alias)) => (expr, alias),
                None => (item, item.rsplit('.').next().unwrap_or(item)),
            };
            if decimals.contains(&name) { format!("({expr})::text AS {name}") } else { item.to_owned() }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The constraint a database error names. An error raised on a Citus
/// worker reaches the client without its constraint field (Citus passes on
/// the code, message, detail, hint and context) and names the shard's
/// constraint (`…_key_102008`): then the name is read from the message,
/// without the shard's number.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint().or_else(|| constraint_in_message(db.message())),
        _ => None,
    }
}

fn constraint_in_message(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once(" constraint \"")?;
    let name = rest.split('"').next()?;
    // Citus's shard ids start at 102008; no constraint of the schema ends in six digits.
    match name.rsplit_once('_') {
        Some((base, shard)) if shard.len() >= 6 && shard.bytes().all(|b| b.is_ascii_digit()) => Some(base),
        _ => Some(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constraint_is_read_from_a_citus_workers_message_without_the_shard() {
        assert_eq!(
            constraint_in_message(
                "duplicate key value violates unique constraint \"customers_tenant_id_account_no_key_102041\""
            ),
            Some("customers_tenant_id_account_no_key")
        );
        assert_eq!(
            constraint_in_message(
                "insert or update on table \"bills_102070\" violates foreign key constraint \"bills_customer_fk_102070\""
            ),
            Some("bills_customer_fk")
        );
        assert_eq!(
            constraint_in_message("new row for relation \"t\" violates check constraint \"t_amount_check\""),
            Some("t_amount_check")
        );
        assert_eq!(constraint_in_message("a expansion cannot go from accepted to powered_on"), None);
    }

    #[test]
    fn exact_decimals_casts_the_named_columns_only() {
        let columns = "b.id, (SELECT t.name FROM t WHERE t.a = b.a AND t.b = 1) AS name, b.amount, x + y AS total, \
                       b.amount_due";
        assert_eq!(
            exact_decimals(columns, &["amount", "total"]),
            "b.id, (SELECT t.name FROM t WHERE t.a = b.a AND t.b = 1) AS name, (b.amount)::text AS amount, \
             (x + y)::text AS total, b.amount_due"
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}
