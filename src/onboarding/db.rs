//! Import and export SQL. Checked lines go by COPY into a temporary staging
//! table (COPY cannot write into a table under row-level security, nor
//! update a row already there), and on from it with one
//! `INSERT ... SELECT ... ON CONFLICT DO UPDATE` per archive table. An
//! update applies only where a value differs, so a re-run of the same file
//! leaves every row, its version and its updated_at as they were.

use std::io::Write;

use chrono::NaiveDate;
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::{Executor, PgConnection, Row};
use uuid::Uuid;

use crate::onboarding::model::{COLUMNS, ImportLine};

/// Lines staged per COPY.
pub const STAGE_BATCH: usize = 20_000;

pub async fn create_staging(conn: &mut PgConnection) -> sqlx::Result<()> {
    conn.execute(
        "CREATE TEMP TABLE import_rows (
            line bigint NOT NULL, customer_id uuid NOT NULL, account_no text COLLATE \"C\" NOT NULL, name text NOT NULL,
            class_code text NOT NULL, industry_code text NOT NULL, voltage_code text NOT NULL, tariff_code text NOT NULL,
            route_id uuid, address text, phone text COLLATE \"C\", id_number text COLLATE \"C\", capacity_kva numeric,
            importance text, status text NOT NULL,
            contact_id uuid NOT NULL, contact_name text, contact_role text, contact_phone text COLLATE \"C\", contact_email text,
            point_id uuid NOT NULL, point_code text, point_address text, point_voltage_code text, point_capacity_kva numeric,
            point_transformer text, point_route_id uuid,
            meter_id uuid NOT NULL, serial text COLLATE \"C\", kind text, time_of_use boolean, multiplier numeric,
            register_digits smallint, verified_on date, next_verification date, installed_on date, install_id uuid NOT NULL,
            name_initials text NOT NULL
         ) ON COMMIT DROP",
    )
    .await?;
    // What the import adds, for the deferred search keys (see `apply`).
    conn.execute("CREATE TEMP TABLE import_new_customers (id uuid NOT NULL) ON COMMIT DROP").await?;
    conn.execute("CREATE TEMP TABLE import_new_meters (id uuid NOT NULL) ON COMMIT DROP").await?;
    Ok(())
}

/// Appends a checked line to a staging batch (COPY CSV: an empty cell is NULL).
pub fn stage(rows: &mut csv::Writer<Vec<u8>>, l: &ImportLine) -> csv::Result<()> {
    fn opt<T: ToString>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_default()
    }
    let c = &l.customer;
    let contact = l.contact.as_ref();
    let p = l.point.as_ref();
    let m = l.meter.as_ref();
    rows.write_record([
        l.line.to_string(),
        Uuid::now_v7().to_string(),
        l.account_no.clone(),
        c.name.clone(),
        c.class_code.clone(),
        c.industry_code.clone(),
        c.voltage_code.clone(),
        c.tariff_code.clone(),
        opt(c.route_id),
        c.address.clone(),
        opt(c.phone.as_ref()),
        opt(l.id_number.as_ref()),
        opt(c.capacity_kva),
        opt(c.importance.as_ref()),
        c.status.clone(),
        Uuid::now_v7().to_string(),
        opt(contact.map(|k| &k.name)),
        opt(contact.map(|k| &k.role)),
        opt(contact.and_then(|k| k.phone.as_ref())),
        opt(contact.and_then(|k| k.email.as_ref())),
        Uuid::now_v7().to_string(),
        opt(p.and_then(|p| p.code.as_ref())),
        opt(p.and_then(|p| p.address.as_ref())),
        opt(p.map(|p| &p.voltage_code)),
        opt(p.and_then(|p| p.capacity_kva)),
        opt(p.map(|p| &p.transformer)),
        opt(p.and_then(|p| p.route_id)),
        Uuid::now_v7().to_string(),
        opt(m.map(|m| &m.serial)),
        opt(m.map(|m| &m.kind)),
        opt(m.map(|m| m.time_of_use)),
        opt(m.map(|m| m.multiplier)),
        opt(m.map(|m| m.register_digits)),
        opt(m.and_then(|m| m.verified_on)),
        opt(m.and_then(|m| m.next_verification)),
        opt(l.installed_on),
        Uuid::now_v7().to_string(),
        crate::customers::search::initials(&c.name),
    ])
}

pub async fn copy_staged(conn: &mut PgConnection, rows: csv::Writer<Vec<u8>>) -> anyhow::Result<()> {
    let bytes = rows.into_inner().map_err(|e| anyhow::anyhow!("staging CSV: {e}"))?;
    if bytes.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw("COPY import_rows FROM STDIN WITH (FORMAT csv)").await?;
    copy.send(bytes).await?;
    copy.finish().await?;
    Ok(())
}

/// Lines whose supply point code is already another customer's in the
/// archive: (line, that customer's account number).
pub async fn points_of_others(conn: &mut PgConnection) -> sqlx::Result<Vec<(i64, String)>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as(
        "SELECT s.line, c.account_no::text FROM import_rows s
         JOIN supply_points p ON p.tenant_id = $1 AND p.code = s.point_code
         JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
         WHERE c.account_no <> s.account_no ORDER BY s.line",
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

pub async fn drop_lines(conn: &mut PgConnection, lines: &[i64]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM import_rows WHERE line = ANY($1)").bind(lines).execute(conn).await?;
    Ok(())
}

/// Rows added and updated in one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ImportCounts)]
pub struct Counts {
    pub added: i64,
    pub updated: i64,
}

/// Runs an upsert (the tenant bound as `$1`) and counts the rows it added and
/// updated; with `added_into`, the ids of the added rows go into that table too.
async fn counted(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    upsert: &str,
    added_into: Option<&str>,
) -> sqlx::Result<Counts> {
    let keep = added_into
        .map(|table| format!(", kept AS (INSERT INTO {table} (id) SELECT id FROM up WHERE added)"))
        .unwrap_or_default();
    let sql = format!(
        "WITH up AS ({upsert} RETURNING id, (xmax = 0) AS added){keep}
         SELECT count(*) FILTER (WHERE added), count(*) FILTER (WHERE NOT added) FROM up"
    );
    let row = sqlx::query(&sql).bind(tenant_id).fetch_one(conn).await?;
    Ok(Counts { added: row.get(0), updated: row.get(1) })
}

/// What the staged lines did to the archive.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
#[schema(as = ImportApplied)]
pub struct Applied {
    pub customers: Counts,
    pub contacts: Counts,
    pub supply_points: Counts,
    pub meters: Counts,
    /// Meters installed on a point (moved from another point: counted as updated).
    pub installations: Counts,
}

/// Writes the staged lines into the archive, table by table.
pub async fn apply(
    conn: &mut PgConnection,
    today: NaiveDate,
    step: &(dyn Fn(&'static str) + Sync),
) -> sqlx::Result<Applied> {
    // The planner must know the staging table's size before joining it.
    conn.execute("ANALYZE import_rows").await?;
    // New rows' search keys are written after the commit, from the backlog
    // filled below (migration 0051): at about 47 key rows a customer they
    // would cost more than the rest of the import.
    conn.execute("SET LOCAL gridcrm.search_keys = 'deferred'").await?;
    // Every statement names the tenant ($1) on the archive's tables: on a
    // Citus cluster that keeps them on the tenant's shard (docs/operations.md).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    step("customers");
    let customers = counted(
        conn,
        tenant_id,
        "INSERT INTO customers AS c (tenant_id, id, account_no, name, class_code, industry_code, voltage_code,
             tariff_code, route_id, address, phone, id_number, capacity_kva, importance, status, name_initials)
         SELECT DISTINCT ON (account_no) $1::uuid, customer_id, account_no, name, class_code, industry_code,
             voltage_code, tariff_code, route_id, coalesce(address, ''), phone, id_number, capacity_kva, importance, status,
             name_initials
         FROM import_rows ORDER BY account_no, line
         ON CONFLICT (tenant_id, account_no) DO UPDATE SET name = excluded.name, name_initials = excluded.name_initials,
             class_code = excluded.class_code,
             industry_code = excluded.industry_code, voltage_code = excluded.voltage_code,
             tariff_code = excluded.tariff_code, route_id = excluded.route_id, address = excluded.address,
             phone = excluded.phone, id_number = excluded.id_number, capacity_kva = excluded.capacity_kva,
             importance = excluded.importance, status = excluded.status, version = c.version + 1
         WHERE (c.name, c.class_code, c.industry_code, c.voltage_code, c.tariff_code, c.route_id, c.address, c.phone,
                c.id_number, c.capacity_kva, c.importance, c.status)
               IS DISTINCT FROM (excluded.name, excluded.class_code, excluded.industry_code, excluded.voltage_code,
                excluded.tariff_code, excluded.route_id, excluded.address, excluded.phone, excluded.id_number,
                excluded.capacity_kva, excluded.importance, excluded.status)",
        Some("import_new_customers"),
    )
    .await?;
    // The customers' ids, once, for the tables that hang off them.
    sqlx::query(
        "CREATE TEMP TABLE import_customers ON COMMIT DROP AS
         SELECT c.account_no, c.id, c.address, c.route_id FROM customers c
         WHERE c.tenant_id = $1 AND c.account_no IN (SELECT account_no FROM import_rows)",
    )
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    conn.execute("ANALYZE import_customers").await?;

    step("contacts");
    let contacts_updated = sqlx::query(
        "WITH given AS (
             SELECT DISTINCT ON (s.account_no, s.contact_name) c.id AS customer_id, s.contact_name,
                 coalesce(s.contact_role, '') AS role, s.contact_phone, s.contact_email
             FROM import_rows s JOIN import_customers c USING (account_no)
             WHERE s.contact_name IS NOT NULL ORDER BY s.account_no, s.contact_name, s.line)
         UPDATE customer_contacts t SET role = g.role, phone = g.contact_phone, email = g.contact_email
         FROM given g
         WHERE t.tenant_id = $1 AND t.customer_id = g.customer_id AND t.name = g.contact_name
           AND (t.role, t.phone, t.email) IS DISTINCT FROM (g.role, g.contact_phone, g.contact_email)",
    )
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let contacts_added: i64 = sqlx::query_scalar(
        // A customer without a primary contact gets the first one its lines name.
        "WITH named AS (
             SELECT DISTINCT ON (s.account_no, s.contact_name) s.account_no, s.line, s.contact_id, c.id AS customer_id,
                 s.contact_name, coalesce(s.contact_role, '') AS role, s.contact_phone, s.contact_email
             FROM import_rows s JOIN import_customers c USING (account_no)
             WHERE s.contact_name IS NOT NULL
             ORDER BY s.account_no, s.contact_name, s.line),
         added AS (INSERT INTO customer_contacts (tenant_id, id, customer_id, name, role, phone, email, is_primary)
         SELECT $1::uuid, n.contact_id, n.customer_id, n.contact_name, n.role, n.contact_phone, n.contact_email,
             row_number() OVER (PARTITION BY n.account_no ORDER BY n.line) = 1 AND p.customer_id IS NULL
         FROM named n
         LEFT JOIN (SELECT DISTINCT customer_id FROM customer_contacts WHERE tenant_id = $1 AND is_primary) p
                ON p.customer_id = n.customer_id
         LEFT JOIN (SELECT customer_id, name FROM customer_contacts WHERE tenant_id = $1) k
                ON k.customer_id = n.customer_id AND k.name = n.contact_name
         WHERE k.customer_id IS NULL
         RETURNING customer_id),
         kept AS (INSERT INTO import_new_customers (id) SELECT customer_id FROM added)
         SELECT count(*) FROM added",
    )
    .bind(tenant_id)
    .fetch_one(&mut *conn)
    .await?;

    step("supply points");
    let supply_points = counted(
        conn,
        tenant_id,
        "INSERT INTO supply_points AS p (tenant_id, id, customer_id, code, address, voltage_code, capacity_kva,
             transformer, route_id)
         SELECT DISTINCT ON (s.point_code) $1::uuid, s.point_id, c.id, s.point_code,
             coalesce(s.point_address, c.address), s.point_voltage_code, s.point_capacity_kva,
             coalesce(s.point_transformer, ''), coalesce(s.point_route_id, c.route_id)
         FROM import_rows s JOIN import_customers c USING (account_no)
         WHERE s.point_code IS NOT NULL ORDER BY s.point_code, s.line
         ON CONFLICT (tenant_id, code) DO UPDATE SET address = excluded.address, voltage_code = excluded.voltage_code,
             capacity_kva = excluded.capacity_kva, transformer = excluded.transformer, route_id = excluded.route_id,
             version = p.version + 1
         WHERE (p.address, p.voltage_code, p.capacity_kva, p.transformer, p.route_id)
               IS DISTINCT FROM (excluded.address, excluded.voltage_code, excluded.capacity_kva, excluded.transformer,
                excluded.route_id)",
        None,
    )
    .await?;

    step("meters");
    let meters = counted(
        conn,
        tenant_id,
        "INSERT INTO meters AS m (tenant_id, id, serial, kind, time_of_use, multiplier, register_digits, verified_on,
             next_verification)
         SELECT $1::uuid, meter_id, serial, kind, time_of_use, multiplier, register_digits, verified_on,
             next_verification
         FROM import_rows WHERE serial IS NOT NULL
         ON CONFLICT (tenant_id, serial) DO UPDATE SET kind = excluded.kind, time_of_use = excluded.time_of_use,
             multiplier = excluded.multiplier, register_digits = excluded.register_digits,
             verified_on = excluded.verified_on, next_verification = excluded.next_verification
         WHERE (m.kind, m.time_of_use, m.multiplier, m.register_digits, m.verified_on, m.next_verification)
               IS DISTINCT FROM (excluded.kind, excluded.time_of_use, excluded.multiplier, excluded.register_digits,
                excluded.verified_on, excluded.next_verification)",
        Some("import_new_meters"),
    )
    .await?;

    step("installations");
    sqlx::query(
        "CREATE TEMP TABLE import_installs ON COMMIT DROP AS
         SELECT s.install_id, m.id AS meter_id, p.id AS supply_point_id, s.installed_on
         FROM import_rows s
         JOIN meters m ON m.tenant_id = $1 AND m.serial = s.serial
         JOIN supply_points p ON p.tenant_id = $1 AND p.code = s.point_code
         WHERE s.serial IS NOT NULL",
    )
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    conn.execute("ANALYZE import_installs").await?;
    // A meter the file puts on another point than it is on is moved there.
    let moved = sqlx::query(
        "UPDATE meter_installations i SET removed_on = greatest(i.installed_on, coalesce(n.installed_on, $2))
         FROM import_installs n
         WHERE i.tenant_id = $1 AND i.meter_id = n.meter_id AND i.removed_on IS NULL
           AND i.supply_point_id <> n.supply_point_id",
    )
    .bind(tenant_id)
    .bind(today)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let installed = sqlx::query(
        "INSERT INTO meter_installations (tenant_id, id, meter_id, supply_point_id, installed_on)
         SELECT $1::uuid, n.install_id, n.meter_id, n.supply_point_id, coalesce(n.installed_on, $2)
         FROM import_installs n
         LEFT JOIN (SELECT meter_id FROM meter_installations WHERE tenant_id = $1 AND removed_on IS NULL) i
                ON i.meter_id = n.meter_id
         WHERE i.meter_id IS NULL
         RETURNING NULL AS not_by_copy",
    )
    .bind(tenant_id)
    .bind(today)
    .execute(&mut *conn)
    .await?
    .rows_affected();

    // Changed rows were indexed by their update triggers; added ones wait.
    sqlx::query(
        "INSERT INTO search_key_backlog (tenant_id, customer_id)
         SELECT $1::uuid, id FROM import_new_customers
         UNION
         SELECT $1::uuid, p.customer_id FROM import_new_meters m
         JOIN import_installs n ON n.meter_id = m.id JOIN supply_points p ON p.tenant_id = $1 AND p.id = n.supply_point_id
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    conn.execute("SET LOCAL gridcrm.search_keys = ''").await?;

    Ok(Applied {
        customers,
        contacts: Counts { added: contacts_added, updated: contacts_updated as i64 },
        supply_points,
        meters,
        installations: Counts { added: installed as i64 - moved as i64, updated: moved as i64 },
    })
}

/// Writes the tenant's archive in the import's columns, one line per meter
/// in service (a customer without one, or a point without one, gets a line
/// of its own) with the customer's first contact, then a line for each
/// further contact, to `out` as CSV cells (the caller frames the file). A point
/// without an address or route of its own is at its customer's, and is
/// written so: importing it back gives the same.
pub async fn export(
    conn: &mut PgConnection,
    mut row: impl FnMut([String; COLUMNS.len()]) -> std::io::Result<()> + Send,
) -> anyhow::Result<u64> {
    let mut rows = sqlx::query(
        "SELECT c.account_no::text, c.name, c.class_code, c.industry_code, c.voltage_code, c.tariff_code,
                cr.code AS route_code, c.address, c.phone::text, c.id_number::text, c.capacity_kva::text, c.importance,
                c.status, k.name AS contact_name, k.role, k.phone::text AS contact_phone, k.email,
                p.code AS point_code, CASE WHEN p.id IS NOT NULL THEN coalesce(nullif(p.address, ''), c.address) END AS point_address,
                p.voltage_code AS point_voltage_code, p.capacity_kva::text AS point_capacity_kva, p.transformer,
                CASE WHEN p.id IS NOT NULL THEN coalesce(pr.code, cr.code) END AS point_route_code,
                m.serial::text, m.kind, m.multiplier::text, m.time_of_use, m.register_digits, m.verified_on,
                m.next_verification, i.installed_on
         FROM customers c
         LEFT JOIN reading_routes cr ON cr.tenant_id = c.tenant_id AND cr.id = c.route_id
         LEFT JOIN LATERAL (
             SELECT k.name, k.role, k.phone, k.email, row_number() OVER (ORDER BY k.is_primary DESC, k.id) AS rank
             FROM customer_contacts k WHERE k.tenant_id = c.tenant_id AND k.customer_id = c.id) k ON true
         LEFT JOIN supply_points p ON p.tenant_id = c.tenant_id AND p.customer_id = c.id AND p.retired_on IS NULL
             AND coalesce(k.rank, 1) = 1
         LEFT JOIN reading_routes pr ON pr.tenant_id = p.tenant_id AND pr.id = p.route_id
         LEFT JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id AND i.removed_on IS NULL
         LEFT JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
         ORDER BY c.account_no, k.rank, p.code, m.serial",
    )
    .fetch(&mut *conn);
    let mut n = 0;
    while let Some(r) = rows.try_next().await? {
        let text = |i: usize| r.get::<Option<String>, _>(i).unwrap_or_default();
        let day = |i: usize| r.get::<Option<NaiveDate>, _>(i).map(|d| d.to_string()).unwrap_or_default();
        let serial = text(23);
        row([
            text(0),
            text(1),
            text(2),
            text(3),
            text(4),
            text(5),
            text(6),
            text(7),
            text(8),
            text(9),
            text(10),
            text(11),
            text(12),
            text(13),
            text(14),
            text(15),
            text(16),
            text(17),
            text(18),
            text(19),
            text(20),
            text(21),
            text(22),
            serial,
            text(24),
            text(25),
            match r.get::<Option<bool>, _>(26) {
                Some(true) => "1".to_owned(),
                Some(false) => "0".to_owned(),
                None => String::new(),
            },
            r.get::<Option<i16>, _>(27).map(|d| d.to_string()).unwrap_or_default(),
            day(28),
            day(29),
            day(30),
        ])?;
        n += 1;
    }
    Ok(n)
}

/// Writes an export as a file Excel opens (UTF-8 with a mark, CRLF, formula
/// cells guarded): the header of [`COLUMNS`], then the archive.
pub async fn export_csv(conn: &mut PgConnection, out: impl Write + Send) -> anyhow::Result<u64> {
    let mut out = out;
    out.write_all("\u{feff}".as_bytes())?;
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(COLUMNS)?;
    let n = export(conn, |cells| {
        w.write_record(cells.iter().map(|c| crate::web::csv_export::guard(c).into_owned()))
            .map_err(std::io::Error::other)
    })
    .await?;
    w.flush()?;
    Ok(n)
}
