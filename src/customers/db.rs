//! Customer SQL. Each function takes a connection inside a tenant-scoped
//! transaction; row-level security keeps it to that tenant.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::customers::{
    model::{Allowed, CustomerDraft, Retired, ValidCustomer, format_account_no},
    reference,
    search::{self, AddressQuery, Fragment, NameQuery, SearchPlan, prefix_upper_bound},
};

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub class_code: String,
    pub address: String,
    pub phone: Option<String>,
    pub status: String,
}

/// Everything the customer page and the API show about one customer.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub class_code: String,
    pub industry_code: String,
    pub voltage_code: String,
    pub tariff_code: String,
    pub route_code: Option<String>,
    pub address: String,
    pub phone: Option<String>,
    /// Decimal string, kVA.
    #[schema(value_type = Option<String>)]
    pub capacity_kva: Option<Decimal>,
    pub importance: Option<String>,
    pub account_manager_id: Option<Uuid>,
    pub account_manager_name: Option<String>,
    pub preferred_channels: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub quiet_from: Option<NaiveTime>,
    #[schema(value_type = Option<String>)]
    pub quiet_to: Option<NaiveTime>,
    pub tags: Vec<String>,
    pub status: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    /// The customer as an editable draft (the starting point of a PATCH or edit form).
    pub fn to_draft(&self) -> CustomerDraft {
        CustomerDraft {
            account_no: Some(self.account_no.clone()),
            name: Some(self.name.clone()),
            class_code: Some(self.class_code.clone()),
            industry_code: Some(self.industry_code.clone()),
            voltage_code: Some(self.voltage_code.clone()),
            tariff_code: Some(self.tariff_code.clone()),
            route_code: self.route_code.clone(),
            address: Some(self.address.clone()),
            phone: self.phone.clone(),
            capacity_kva: self.capacity_kva.map(|c| c.to_string()),
            importance: self.importance.clone(),
            account_manager_id: self.account_manager_id.map(|m| m.to_string()),
            preferred_channels: Some(self.preferred_channels.clone()),
            quiet_from: self.quiet_from.map(|t| t.format("%H:%M").to_string()),
            quiet_to: self.quiet_to.map(|t| t.format("%H:%M").to_string()),
            tags: Some(self.tags.clone()),
            status: Some(self.status.clone()),
            version: Some(self.version),
        }
    }

    /// The audited snapshot: the same shape as a validated draft.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "account_no": self.account_no, "name": self.name, "class_code": self.class_code,
            "industry_code": self.industry_code, "voltage_code": self.voltage_code, "tariff_code": self.tariff_code,
            "route_code": self.route_code, "address": self.address, "phone": self.phone,
            "capacity_kva": self.capacity_kva, "importance": self.importance,
            "account_manager_id": self.account_manager_id, "account_manager": self.account_manager_name,
            "preferred_channels": self.preferred_channels,
            "quiet_from": self.quiet_from, "quiet_to": self.quiet_to, "tags": self.tags, "status": self.status,
        })
    }
}

/// The codes a new value may take, and the retired ones (named as such when given).
pub async fn load_allowed(conn: &mut PgConnection) -> sqlx::Result<Allowed> {
    let split = |items: Vec<reference::RefItem>| -> (Vec<String>, Vec<String>) {
        let (retired, current): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| i.retired);
        (current.into_iter().map(|i| i.code).collect(), retired.into_iter().map(|i| i.code).collect())
    };
    let routes =
        sqlx::query!(r#"SELECT code, id, retired_at IS NOT NULL AS "retired!" FROM reading_routes ORDER BY code"#)
            .fetch_all(&mut *conn)
            .await?;
    let managers = sqlx::query_scalar!("SELECT id FROM users WHERE role = 'account_manager' AND active")
        .fetch_all(&mut *conn)
        .await?;
    let [classes, industries, voltages, tariffs, tags] = reference::load_all(conn).await?;
    let (classes, retired_classes) = split(classes);
    let (industries, retired_industries) = split(industries);
    let (voltages, retired_voltages) = split(voltages);
    let (tariffs, retired_tariffs) = split(tariffs);
    let (tags, retired_tags) = split(tags);
    let (retired_routes, routes): (Vec<_>, Vec<_>) =
        routes.into_iter().map(|r| (r.retired, (r.code, r.id))).partition(|(retired, _)| *retired);
    let pairs = |rows: Vec<(bool, (String, Uuid))>| rows.into_iter().map(|(_, pair)| pair).collect();
    Ok(Allowed {
        classes,
        industries,
        voltages,
        tariffs,
        tags,
        routes: pairs(routes),
        managers,
        retired: Retired {
            classes: retired_classes,
            industries: retired_industries,
            voltages: retired_voltages,
            tariffs: retired_tariffs,
            tags: retired_tags,
            routes: pairs(retired_routes),
        },
    })
}

/// Hands out the tenant's next account number. The row lock serialises
/// concurrent creations; a number is never handed out twice.
pub async fn next_account_no(conn: &mut PgConnection) -> sqlx::Result<String> {
    let row = sqlx::query!(
        "UPDATE account_number_sequences SET next_value = next_value + 1 RETURNING prefix, next_value - 1 AS \"n!\""
    )
    .fetch_one(conn)
    .await?;
    Ok(format_account_no(&row.prefix, row.n))
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("account number taken")]
    AccountNoTaken,
    #[error("changed by someone else")]
    StaleVersion,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn map_write_error(err: sqlx::Error) -> WriteError {
    match crate::db::violated_constraint(&err) {
        Some("customers_tenant_id_account_no_key") => WriteError::AccountNoTaken,
        _ => WriteError::Db(err),
    }
}

pub async fn insert(conn: &mut PgConnection, c: &ValidCustomer) -> Result<(Uuid, String), WriteError> {
    let account_no = match &c.account_no {
        Some(a) => a.clone(),
        None => next_account_no(conn).await?,
    };
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO customers (tenant_id, id, account_no, name, class_code, industry_code, voltage_code, tariff_code,
               route_id, address, phone, capacity_kva, importance, account_manager_id, preferred_channels,
               quiet_from, quiet_to, status, name_initials)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"#,
        id,
        account_no,
        c.name,
        c.class_code,
        c.industry_code,
        c.voltage_code,
        c.tariff_code,
        c.route_id,
        c.address,
        c.phone,
        c.capacity_kva,
        c.importance,
        c.account_manager_id,
        &c.preferred_channels,
        c.quiet_from,
        c.quiet_to,
        c.status,
        search::initials(&c.name)
    )
    .execute(&mut *conn)
    .await
    .map_err(map_write_error)?;
    set_tags(conn, id, &c.tags).await?;
    Ok((id, account_no))
}

/// Updates a customer if it is still at `version`; the account number is
/// never changed by an edit.
pub async fn update(conn: &mut PgConnection, id: Uuid, version: i32, c: &ValidCustomer) -> Result<(), WriteError> {
    let updated = sqlx::query!(
        r#"UPDATE customers SET name = $3, class_code = $4, industry_code = $5, voltage_code = $6, tariff_code = $7,
               route_id = $8, address = $9, phone = $10, capacity_kva = $11, importance = $12,
               account_manager_id = $13, preferred_channels = $14, quiet_from = $15, quiet_to = $16, status = $17,
               name_initials = $18, version = version + 1
           WHERE id = $1 AND version = $2"#,
        id,
        version,
        c.name,
        c.class_code,
        c.industry_code,
        c.voltage_code,
        c.tariff_code,
        c.route_id,
        c.address,
        c.phone,
        c.capacity_kva,
        c.importance,
        c.account_manager_id,
        &c.preferred_channels,
        c.quiet_from,
        c.quiet_to,
        c.status,
        search::initials(&c.name)
    )
    .execute(&mut *conn)
    .await
    .map_err(map_write_error)?;
    if updated.rows_affected() == 0 {
        return Err(WriteError::StaleVersion);
    }
    set_tags(conn, id, &c.tags).await?;
    Ok(())
}

/// The customer's tags, except `vip`: that one follows the value tier (the
/// VIP list sets and clears it), so a form or API save neither adds nor
/// removes it.
/// Sets a customer's quiet hours (both or neither); returns the ones
/// replaced, or None when the tenant has no such customer.
pub async fn set_quiet_hours(
    conn: &mut PgConnection,
    id: Uuid,
    from: Option<NaiveTime>,
    to: Option<NaiveTime>,
) -> sqlx::Result<Option<(Option<NaiveTime>, Option<NaiveTime>)>> {
    // The tenant named ($4), as db::lock_row explains.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as(
        "UPDATE customers c SET quiet_from = $2, quiet_to = $3, version = c.version + 1
         FROM (SELECT tenant_id, id, quiet_from, quiet_to FROM customers WHERE tenant_id = $4 AND id = $1 FOR UPDATE) old
         WHERE c.tenant_id = old.tenant_id AND c.id = old.id RETURNING old.quiet_from, old.quiet_to",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(tenant_id)
    .fetch_optional(conn)
    .await
}

async fn set_tags(conn: &mut PgConnection, customer_id: Uuid, tags: &[String]) -> sqlx::Result<()> {
    let tags: Vec<String> = tags.iter().filter(|t| *t != crate::value::VIP_TAG).cloned().collect();
    let kept: Vec<String> = tags.iter().cloned().chain([crate::value::VIP_TAG.to_owned()]).collect();
    sqlx::query!("DELETE FROM customer_tags WHERE customer_id = $1 AND NOT (tag_code = ANY($2))", customer_id, &kept)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        r#"INSERT INTO customer_tags (tenant_id, customer_id, tag_code)
           SELECT app_tenant_id(), $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING"#,
        customer_id,
        &tags
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One customer, or `RowNotFound` (a 404) when it is not this tenant's.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Customer> {
    sqlx::query_as!(
        Customer,
        r#"SELECT c.id, c.account_no, c.name, c.class_code, c.industry_code, c.voltage_code, c.tariff_code,
                  r.code AS "route_code?", c.address, c.phone, c.capacity_kva, c.importance,
                  c.account_manager_id, u.display_name AS "account_manager_name?", c.preferred_channels,
                  c.quiet_from, c.quiet_to,
                  array(SELECT tag_code FROM customer_tags t WHERE t.tenant_id = c.tenant_id AND t.customer_id = c.id ORDER BY tag_code) AS "tags!",
                  c.status, c.version, c.created_at, c.updated_at
           FROM customers c
           LEFT JOIN reading_routes r ON r.tenant_id = c.tenant_id AND r.id = c.route_id
           LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.account_manager_id
           WHERE c.id = $1"#,
        id
    )
    .fetch_one(conn)
    .await
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Contact {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub is_primary: bool,
}

pub async fn contacts(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Vec<Contact>> {
    sqlx::query_as!(
        Contact,
        "SELECT id, name, role, phone, email, is_primary FROM customer_contacts
         WHERE customer_id = $1 ORDER BY is_primary DESC, name",
        customer_id
    )
    .fetch_all(conn)
    .await
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SupplyPoint {
    pub id: Uuid,
    pub code: String,
    pub address: String,
    pub voltage_code: String,
    pub capacity_kva: Option<Decimal>,
    pub transformer: String,
    pub status: String,
    pub meters: Vec<MeterInstallation>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct MeterInstallation {
    pub meter_id: Uuid,
    pub serial: String,
    pub kind: String,
    pub time_of_use: bool,
    pub multiplier: Decimal,
    pub next_verification: Option<NaiveDate>,
    pub installed_on: NaiveDate,
    pub removed_on: Option<NaiveDate>,
}

/// The customer's supply points, each with its meters, current first, then
/// the ones removed (the installation history).
pub async fn supply_points(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<Vec<SupplyPoint>> {
    let points = sqlx::query!(
        "SELECT id, code, address, voltage_code, capacity_kva, transformer, status
         FROM supply_points WHERE customer_id = $1 ORDER BY code",
        customer_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let installs = sqlx::query!(
        r#"SELECT i.supply_point_id, m.id AS meter_id, m.serial, m.kind, m.time_of_use, m.multiplier,
                  m.next_verification, i.installed_on, i.removed_on
           FROM meter_installations i
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
           WHERE p.customer_id = $1
           ORDER BY i.removed_on IS NOT NULL, i.installed_on DESC"#,
        customer_id
    )
    .fetch_all(conn)
    .await?;
    Ok(points
        .into_iter()
        .map(|p| SupplyPoint {
            meters: installs
                .iter()
                .filter(|i| i.supply_point_id == p.id)
                .map(|i| MeterInstallation {
                    meter_id: i.meter_id,
                    serial: i.serial.clone(),
                    kind: i.kind.clone(),
                    time_of_use: i.time_of_use,
                    multiplier: i.multiplier,
                    next_verification: i.next_verification,
                    installed_on: i.installed_on,
                    removed_on: i.removed_on,
                })
                .collect(),
            id: p.id,
            code: p.code,
            address: p.address,
            voltage_code: p.voltage_code,
            capacity_kva: p.capacity_kva,
            transformer: p.transformer,
            status: p.status,
        })
        .collect())
}

/// What a search found: at most [`search::CAP`] customers in account-number
/// order, and whether more match.
pub struct Found {
    pub rows: Vec<CustomerSummary>,
    pub more: bool,
}

/// Runs a search plan. Every lookup is an index walk on leakproof
/// comparisons (equality or a range on a `COLLATE "C"` key) that stops after
/// `CAP + 1` customers; the merged set is counted up to there, never further.
/// Callers run it on generic plans (`db::GENERIC_PLANS`),
/// so each lookup is written to need no custom plan: an index walk under a
/// LIMIT, and joins that can only be nested loops.
/// (A code lookup reads key rows, several of which may be one customer's: it
/// reads twice the cap of them, so a count below the cap is exact unless one
/// customer's keys fill half of it.)
pub async fn search(conn: &mut PgConnection, tenant_id: Uuid, plan: &SearchPlan) -> sqlx::Result<Found> {
    let limit = search::CAP as i64 + 1;
    let mut found: Vec<CustomerSummary> = Vec::new();
    // Past the cap the answer is "more than 100" whatever else matches (and
    // which 100 show is arbitrary either way), so the lookups after it are
    // not run: a broad search (four digits, one common name) reads no more.
    let enough = |found: &[CustomerSummary]| found.iter().map(|c| c.id).collect::<HashSet<_>>().len() > search::CAP;
    if let Some(prefix) = &plan.account_prefix {
        found.extend(
            sqlx::query_as!(
                CustomerSummary,
                r#"SELECT id, account_no, name, class_code, address, phone, status FROM customers
                   WHERE tenant_id = $4 AND account_no >= $1 AND account_no < $2 ORDER BY account_no LIMIT $3"#,
                prefix,
                prefix_upper_bound(prefix),
                limit,
                tenant_id
            )
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    if let Some(code) = &plan.code
        && !enough(&found)
    {
        // Any part of the customer's own numbers or a contact's phone.
        found.extend(
            sqlx::query_as!(
                CustomerSummary,
                r#"SELECT id, account_no, name, class_code, address, phone, status FROM customers
                   WHERE tenant_id = $4 AND id IN (SELECT customer_id FROM customer_search_keys
                                WHERE tenant_id = $4 AND kind = 'c' AND key >= $1 AND key < $2 LIMIT 2 * $3::bigint)
                   LIMIT $3"#,
                code,
                prefix_upper_bound(code),
                limit,
                tenant_id
            )
            .fetch_all(&mut *conn)
            .await?,
        );
        if !enough(&found) {
            // Any part of a meter serial, through the meter's installations
            // (read per key, OFFSET 0 keeping them a nested loop: a generic plan
            // would otherwise hash-join every installation of the tenant against
            // a range of default size).
            found.extend(
                sqlx::query_as::<_, CustomerSummary>(
                    r#"SELECT id, account_no, name, class_code, address, phone, status FROM customers
                   WHERE tenant_id = $4 AND id IN (SELECT m.customer_id
                                FROM (SELECT k.meter_id FROM meter_search_keys k
                                      WHERE k.tenant_id = $4 AND k.key >= $1 AND k.key < $2 LIMIT 2 * $3::bigint) k
                                CROSS JOIN LATERAL (
                                    SELECT p.customer_id FROM meter_installations i
                                    JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
                                    WHERE i.tenant_id = $4 AND i.meter_id = k.meter_id OFFSET 0) m)
                   LIMIT $3"#,
                )
                .bind(code)
                .bind(prefix_upper_bound(code))
                .bind(limit)
                .bind(tenant_id)
                .fetch_all(&mut *conn)
                .await?,
            );
        }
    }
    if !enough(&found) {
        match &plan.name {
            Some(NameQuery::Char(ch)) => found.extend(
                sqlx::query_as!(
                    CustomerSummary,
                    r#"SELECT c.id, c.account_no, c.name, c.class_code, c.address, c.phone, c.status
                   FROM customer_name_grams g
                   JOIN customers c ON c.tenant_id = g.tenant_id AND c.id = g.customer_id
                   WHERE g.tenant_id = $3 AND g.gram = $1 ORDER BY g.account_no LIMIT $2"#,
                    ch,
                    limit,
                    tenant_id
                )
                .fetch_all(&mut *conn)
                .await?,
            ),
            Some(NameQuery::Contains(Fragment { driver, pattern, .. })) => found.extend(
                // One pair's entries in account order, each checked against the whole infix.
                sqlx::query_as!(
                    CustomerSummary,
                    r#"SELECT c.id, c.account_no, c.name, c.class_code, c.address, c.phone, c.status
                   FROM customer_name_grams g
                   JOIN customers c ON c.tenant_id = g.tenant_id AND c.id = g.customer_id
                   WHERE g.tenant_id = $4 AND g.gram = $1 AND c.name ILIKE $2
                   ORDER BY g.account_no LIMIT $3"#,
                    driver,
                    pattern,
                    limit,
                    tenant_id
                )
                .fetch_all(&mut *conn)
                .await?,
            ),
            None => {}
        }
    }
    if let Some(initials) = &plan.initials
        && !enough(&found)
    {
        found.extend(
            sqlx::query_as!(
                CustomerSummary,
                r#"SELECT id, account_no, name, class_code, address, phone, status FROM customers
                   WHERE tenant_id = $4 AND name_initials >= $1 AND name_initials < $2 LIMIT $3"#,
                initials,
                prefix_upper_bound(initials),
                limit,
                tenant_id
            )
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    if let Some(AddressQuery { key, whole }) = &plan.address
        && !enough(&found)
    {
        // The keys that start with the part are its addresses' (migration
        // 0066); a part longer than a key is checked against the whole address
        // (12 characters of it already match, so few rows are read).
        let sql = match whole {
            None => {
                "SELECT id, account_no, name, class_code, address, phone, status FROM customers
                 WHERE tenant_id = $4 AND id IN (SELECT customer_id FROM customer_search_keys
                              WHERE tenant_id = $4 AND kind = 'a' AND key >= $1 AND key < $2 LIMIT 2 * $3::bigint)
                 LIMIT $3"
            }
            Some(_) => {
                // (Each key's customer read by its key, OFFSET 0 keeping it a
                // nested loop, as for meters.)
                "SELECT c.id, c.account_no, c.name, c.class_code, c.address, c.phone, c.status
                 FROM customer_search_keys k
                 CROSS JOIN LATERAL (SELECT * FROM customers c WHERE c.tenant_id = $4 AND c.id = k.customer_id
                                     AND gridcrm_address_text(c.address) LIKE $5 OFFSET 0) c
                 WHERE k.tenant_id = $4 AND k.kind = 'a' AND k.key >= $1 AND k.key < $2
                 LIMIT $3"
            }
        };
        let query = sqlx::query_as::<_, CustomerSummary>(sql)
            .bind(key)
            .bind(prefix_upper_bound(key))
            .bind(limit)
            .bind(tenant_id);
        let query = match whole {
            Some(pattern) => query.bind(pattern),
            None => query,
        };
        found.extend(query.fetch_all(&mut *conn).await?);
    }
    found.sort_by(|a, b| a.account_no.cmp(&b.account_no));
    found.dedup_by(|a, b| a.id == b.id);
    let more = found.len() > search::CAP;
    found.truncate(search::CAP);
    Ok(Found { rows: found, more })
}

/// Customers whose pinyin initials are not written yet, at most `limit`.
pub async fn names_without_initials(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!("SELECT id, name FROM customers WHERE name_initials IS NULL LIMIT $1", limit)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}

pub async fn set_name_initials(conn: &mut PgConnection, ids: &[Uuid], initials: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE customers c SET name_initials = u.initials FROM unnest($1::uuid[], $2::text[]) AS u (id, initials)
         WHERE c.id = u.id",
        ids,
        initials
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `limit` customers whose search keys a bulk import deferred (see
/// migration 0051), locked so that two servers take different ones.
pub async fn search_key_backlog(conn: &mut PgConnection, tenant_id: Uuid, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT customer_id FROM search_key_backlog WHERE tenant_id = $2
         ORDER BY customer_id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// Writes every search key of the customers (their name, their own numbers
/// and address, their contacts' phones, the serials of the meters on their
/// supply points), as the insert triggers would have, and takes them off
/// the backlog. Keys already there are left as they are, so a customer
/// changed since the import, or written twice, comes out the same.
///
/// The keys are spelled out inline rather than through the triggers'
/// functions (`gridcrm_name_keys`, `gridcrm_customer_own_keys`,
/// `gridcrm_code_suffixes` of migrations 0003 and 0045), which cost a
/// function call a customer; a test checks both give the same keys. Each
/// table's rows go in key order, so its primary key is filled page by page.
pub async fn write_search_keys(conn: &mut PgConnection, customers: &[Uuid]) -> sqlx::Result<()> {
    // A name's keys: its characters and character pairs (lower case, no white space).
    sqlx::query!(
        r#"INSERT INTO customer_name_grams (tenant_id, gram, account_no, customer_id)
           SELECT DISTINCT c.tenant_id, g.gram, c.account_no, c.id
           FROM customers c
           CROSS JOIN LATERAL generate_series(1, char_length(c.name)) AS i
           CROSS JOIN LATERAL (VALUES (substr(lower(c.name), i, 1)), (substr(lower(c.name), i, 2))) AS g (gram)
           WHERE c.id = ANY($1) AND g.gram <> '' AND g.gram !~ '\s'
           ORDER BY 2, 3
           ON CONFLICT DO NOTHING"#,
        customers
    )
    .execute(&mut *conn)
    .await?;
    // Every suffix of four or more characters of a code (upper case, no
    // spaces or hyphens); from each character of an address, the next 12
    // (`gridcrm_address_suffixes`, migration 0066).
    sqlx::query(
        r#"WITH codes AS (
               SELECT c.tenant_id, c.id AS customer_id, c.id AS source_id, upper(translate(v.code, ' -', '')) AS code
               FROM customers c CROSS JOIN LATERAL (VALUES (c.account_no), (c.phone), (c.id_number)) AS v (code)
               WHERE c.id = ANY($1) AND v.code IS NOT NULL
               UNION ALL
               SELECT n.tenant_id, n.customer_id, n.id, upper(translate(n.phone, ' -', ''))
               FROM customer_contacts n WHERE n.customer_id = ANY($1) AND n.phone IS NOT NULL),
           addresses AS (
               SELECT c.tenant_id, c.id AS customer_id, gridcrm_address_text(c.address) AS address
               FROM customers c WHERE c.id = ANY($1))
           INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
           SELECT DISTINCT tenant_id, 'c'::"char", substr(code, i), customer_id, source_id
           FROM codes CROSS JOIN LATERAL generate_series(1, char_length(code) - 3) AS i
           UNION
           SELECT tenant_id, 'a'::"char", substr(address, i, 12), customer_id, customer_id
           FROM addresses CROSS JOIN LATERAL generate_series(1, char_length(address) - 1) AS i
           ORDER BY 2, 3
           ON CONFLICT DO NOTHING"#,
    )
    .bind(customers)
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO meter_search_keys (tenant_id, key, meter_id)
           SELECT DISTINCT m.tenant_id, substr(s.serial, i), m.id
           FROM supply_points p
           JOIN meter_installations n ON n.tenant_id = p.tenant_id AND n.supply_point_id = p.id
           JOIN meters m ON m.tenant_id = n.tenant_id AND m.id = n.meter_id
           CROSS JOIN LATERAL (VALUES (upper(translate(m.serial, ' -', '')))) AS s (serial)
           CROSS JOIN LATERAL generate_series(1, char_length(s.serial) - 3) AS i
           WHERE p.customer_id = ANY($1)
           ORDER BY 2
           ON CONFLICT DO NOTHING"#,
        customers
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM search_key_backlog WHERE customer_id = ANY($1)", customers).execute(&mut *conn).await?;
    Ok(())
}

/// All customers in account-number order, by keyset.
pub async fn list(conn: &mut PgConnection, after: &str, limit: i64) -> sqlx::Result<Vec<CustomerSummary>> {
    sqlx::query_as!(
        CustomerSummary,
        r#"SELECT id, account_no, name, class_code, address, phone, status FROM customers
           WHERE account_no > $1 ORDER BY account_no LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// How many customers the tenant has, counted up to `cap` (lists never
/// COUNT(*) a big table; the page shows "10,000+" instead).
pub async fn capped_count(conn: &mut PgConnection, cap: i64) -> sqlx::Result<i64> {
    let n = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM (SELECT 1 FROM customers LIMIT $1) AS capped"#, cap)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

pub struct NewContact<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub is_primary: bool,
}

pub async fn add_contact(conn: &mut PgConnection, customer_id: Uuid, c: NewContact<'_>) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    if c.is_primary {
        sqlx::query!("UPDATE customer_contacts SET is_primary = false WHERE customer_id = $1", customer_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query!(
        r#"INSERT INTO customer_contacts (tenant_id, id, customer_id, name, role, phone, email, is_primary)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7)"#,
        id,
        customer_id,
        c.name,
        c.role,
        c.phone,
        c.email,
        c.is_primary
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// Removes a contact of this customer; returns what was removed, for the audit log.
pub async fn remove_contact(conn: &mut PgConnection, customer_id: Uuid, contact_id: Uuid) -> sqlx::Result<Contact> {
    sqlx::query_as!(
        Contact,
        "DELETE FROM customer_contacts WHERE customer_id = $1 AND id = $2
         RETURNING id, name, role, phone, email, is_primary",
        customer_id,
        contact_id
    )
    .fetch_one(conn)
    .await
}
