//! The customer page's own reads in one statement: the customer with its
//! contacts, supply points and meters, its contract in force and its
//! cost-control agreement. Lists travel as JSON (numbers as text, so money
//! and kVA stay exact decimals) and are read into the types the rest of the
//! area uses.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    cost_control::db::Agreement,
    customers::{
        contracts::Contract,
        db::{Contact, Customer, SupplyPoint},
    },
    db::json_column as decode,
};

/// What the head of the customer page shows.
pub struct PageHead {
    pub customer: Customer,
    pub contacts: Vec<Contact>,
    pub points: Vec<SupplyPoint>,
    pub contract: Option<Contract>,
    pub cost_control: Option<Agreement>,
}

/// The customer (RowNotFound when there is none in this tenant) and what
/// belongs to it, in one round trip.
pub async fn head(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<PageHead> {
    let row = sqlx::query!(
        r#"SELECT c.id, c.account_no, c.name, c.class_code, c.industry_code, c.voltage_code, c.tariff_code,
                  r.code AS "route_code?", c.address, c.phone, c.capacity_kva, c.importance,
                  c.account_manager_id, u.display_name AS "account_manager_name?", c.preferred_channels,
                  c.quiet_from, c.quiet_to,
                  array(SELECT tag_code FROM customer_tags t WHERE t.customer_id = c.id ORDER BY tag_code) AS "tags!",
                  c.status, c.version, c.created_at, c.updated_at,
                  (SELECT coalesce(json_agg(k ORDER BY k.is_primary DESC, k.name), '[]')
                     FROM (SELECT id, name, role, phone, email, is_primary FROM customer_contacts
                           WHERE customer_id = c.id) k) AS "contacts!",
                  (SELECT coalesce(json_agg(p ORDER BY p.code), '[]')
                     FROM (SELECT sp.id, sp.code, sp.address, sp.voltage_code, sp.capacity_kva::text AS capacity_kva,
                                  sp.transformer, sp.status,
                                  (SELECT coalesce(json_agg(m ORDER BY m.removed_on IS NOT NULL, m.installed_on DESC), '[]')
                                     FROM (SELECT m.id AS meter_id, m.serial, m.kind, m.time_of_use,
                                                  m.multiplier::text AS multiplier, m.next_verification,
                                                  i.installed_on, i.removed_on
                                           FROM meter_installations i
                                           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
                                           WHERE i.supply_point_id = sp.id) m) AS meters
                           FROM supply_points sp WHERE sp.customer_id = c.id) p) AS "points!",
                  (SELECT row_to_json(k)
                     FROM (SELECT id, contract_no, starts_on, expires_on, recorded_by, recorded_at
                           FROM supply_contracts WHERE customer_id = c.id
                           ORDER BY starts_on DESC, recorded_at DESC LIMIT 1) k) AS contract,
                  (SELECT row_to_json(a)
                     FROM (SELECT customer_id, started_on, active, balance::text AS balance,
                                  daily_cost::text AS daily_cost, days_left::text AS days_left, standing,
                                  estimated_on, connected
                           FROM cost_control_agreements WHERE customer_id = c.id) a) AS cost_control
           FROM customers c
           LEFT JOIN reading_routes r ON r.tenant_id = c.tenant_id AND r.id = c.route_id
           LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.account_manager_id
           WHERE c.id = $1"#,
        id
    )
    .fetch_one(conn)
    .await?;
    Ok(PageHead {
        contacts: decode("contacts", row.contacts)?,
        points: decode("points", row.points)?,
        contract: row.contract.map(|c| decode("contract", c)).transpose()?,
        cost_control: row.cost_control.map(|a| decode("cost_control", a)).transpose()?,
        customer: Customer {
            id: row.id,
            account_no: row.account_no,
            name: row.name,
            class_code: row.class_code,
            industry_code: row.industry_code,
            voltage_code: row.voltage_code,
            tariff_code: row.tariff_code,
            route_code: row.route_code,
            address: row.address,
            phone: row.phone,
            capacity_kva: row.capacity_kva,
            importance: row.importance,
            account_manager_id: row.account_manager_id,
            account_manager_name: row.account_manager_name,
            preferred_channels: row.preferred_channels,
            quiet_from: row.quiet_from,
            quiet_to: row.quiet_to,
            tags: row.tags,
            status: row.status,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
    })
}
