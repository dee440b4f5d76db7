//! The customer page's reads in one statement: the customer with its
//! contacts, supply points and meters, its contract in force and its
//! cost-control agreement, and what other areas keep for it (recent
//! changes, open contacts and orders, timeline, bills, payments, what the
//! account stands at, meter commands, visits, credit, points, notice
//! preferences, value), each written by its own area as a JSON column over
//! `$1` (the customer), `$2` (the company's day), `$3` (whether the user may
//! redeem points) and `$4` (whether the user sees values). Lists travel as
//! JSON (numbers as text, so money and kVA stay exact decimals) and are read
//! into the types the areas use. One round trip instead of fifteen: a page's
//! cost was its statements, not their work (BENCHMARKS.md).

use std::sync::LazyLock;

use chrono::NaiveDate;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

use crate::{
    audit::AuditEntry,
    billing::bills::BillRow,
    complaints::db::Contact as ServiceContact,
    cost_control::db::{Agreement, Command},
    customers::{
        contracts::Contract,
        db::{Contact, Customer, SupplyPoint},
    },
    db::json_column as decode,
    payments::db::{PaymentRow, Standing},
    timeline::TimelineItem,
    work_orders::db::WorkOrder,
};

/// What the customer page reads in its one statement.
pub struct PageData {
    pub customer: Customer,
    pub contacts: Vec<Contact>,
    pub points: Vec<SupplyPoint>,
    pub contract: Option<Contract>,
    pub cost_control: Option<Agreement>,
    pub history: Vec<AuditEntry>,
    pub open_contacts: Vec<ServiceContact>,
    pub open_orders: Vec<WorkOrder>,
    pub timeline: Vec<TimelineItem>,
    pub bills: Vec<BillRow>,
    pub payments: Vec<PaymentRow>,
    pub standing: Standing,
    pub commands: Vec<Command>,
    /// The sections that their areas read from these columns.
    pub visits: serde_json::Value,
    pub credit: serde_json::Value,
    pub loyalty: serde_json::Value,
    pub notice_prefs: serde_json::Value,
    /// Null unless asked for.
    pub value: Option<serde_json::Value>,
}

/// The other areas' lists, as columns after the head's.
static LISTS: LazyLock<String> = LazyLock::new(|| {
    [
        (crate::audit::customer_page_query(), "history"),
        (crate::complaints::db::customer_page_query(), "open_contacts"),
        (crate::work_orders::db::customer_page_query(), "open_orders"),
        (crate::timeline::customer_page_query(), "timeline"),
        (crate::billing::bills::customer_page_query(), "bills"),
        (crate::payments::db::customer_page_query(), "payments"),
        (crate::payments::db::standing_query("$5"), "standing"),
        (crate::cost_control::db::customer_page_query(), "commands"),
        (crate::portfolio::visits::page_query("$5"), "visits"),
        (crate::credit::pages::page_query("$5"), "credit"),
        (crate::points::pages::page_query("$3", "$5"), "loyalty"),
        (crate::notices::preferences_pages::page_query("$5"), "notice_prefs"),
        (crate::value::pages::page_query("$4", "$5"), "value"),
    ]
    .map(|(query, name)| format!("{query} AS {name}"))
    .join(",\n")
});

/// The customer (RowNotFound when there is none in this tenant) and
/// everything the page shows of it, in one round trip; `today` is the
/// company's day (bills' states, the overdue part of the arrears, the next
/// visit), `may_redeem` whether the points section offers the catalogue,
/// `values` whether to read the customer's value; `tenant_id` the
/// transaction's tenant.
pub async fn load(
    conn: &mut PgConnection,
    id: Uuid,
    today: NaiveDate,
    may_redeem: bool,
    values: bool,
    tenant_id: Uuid,
) -> sqlx::Result<PageData> {
    static STATEMENT: LazyLock<String> = LazyLock::new(|| HEAD.replace("{lists}", &LISTS));
    let row = sqlx::query(&STATEMENT)
        .bind(id)
        .bind(today)
        .bind(may_redeem)
        .bind(values)
        .bind(tenant_id)
        .fetch_one(conn)
        .await?;
    let json = |name: &str| row.try_get::<serde_json::Value, _>(name);
    let optional = |name: &str| row.try_get::<Option<serde_json::Value>, _>(name);
    Ok(PageData {
        customer: Customer::from_row(&row)?,
        contacts: decode("contacts", json("contacts")?)?,
        points: decode("points", json("points")?)?,
        contract: optional("contract")?.map(|c| decode("contract", c)).transpose()?,
        cost_control: optional("cost_control")?.map(|a| decode("cost_control", a)).transpose()?,
        history: crate::audit::from_page(json("history")?)?,
        open_contacts: decode("open_contacts", json("open_contacts")?)?,
        open_orders: decode("open_orders", json("open_orders")?)?,
        timeline: decode("timeline", json("timeline")?)?,
        bills: crate::billing::bills::from_page(json("bills")?, today)?,
        payments: decode("payments", json("payments")?)?,
        standing: decode("standing", json("standing")?)?,
        commands: decode("commands", json("commands")?)?,
        visits: json("visits")?,
        credit: json("credit")?,
        loyalty: json("loyalty")?,
        notice_prefs: json("notice_prefs")?,
        value: optional("value")?,
    })
}

/// The customer's own columns and lists; `{lists}` stands for [`LISTS`].
const HEAD: &str = "SELECT c.id, c.account_no, c.name, c.class_code, c.industry_code, c.voltage_code, c.tariff_code,
       r.code AS route_code, c.address, c.phone, c.capacity_kva, c.importance,
       c.account_manager_id, u.display_name AS account_manager_name, c.preferred_channels,
       c.quiet_from, c.quiet_to,
       array(SELECT tag_code FROM customer_tags t WHERE t.tenant_id = $5 AND t.customer_id = c.id ORDER BY tag_code) AS tags,
       c.status, c.version, c.created_at, c.updated_at,
       (SELECT coalesce(json_agg(k ORDER BY k.is_primary DESC, k.name), '[]')
          FROM (SELECT id, name, role, phone, email, is_primary FROM customer_contacts
                WHERE tenant_id = $5 AND customer_id = c.id) k) AS contacts,
       (SELECT coalesce(json_agg(p ORDER BY p.code), '[]')
          FROM (SELECT sp.id, sp.code, sp.address, sp.voltage_code, sp.capacity_kva::text AS capacity_kva,
                       sp.transformer, sp.status,
                       (SELECT coalesce(json_agg(m ORDER BY m.removed_on IS NOT NULL, m.installed_on DESC), '[]')
                          FROM (SELECT m.id AS meter_id, m.serial, m.kind, m.time_of_use,
                                       m.multiplier::text AS multiplier, m.next_verification,
                                       i.installed_on, i.removed_on
                                FROM meter_installations i
                                JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
                                WHERE i.tenant_id = $5 AND i.supply_point_id = sp.id) m) AS meters
                FROM supply_points sp WHERE sp.tenant_id = $5 AND sp.customer_id = c.id) p) AS points,
       (SELECT row_to_json(k)
          FROM (SELECT id, contract_no, starts_on, expires_on, recorded_by, recorded_at
                FROM supply_contracts WHERE tenant_id = $5 AND customer_id = c.id
                ORDER BY starts_on DESC, recorded_at DESC LIMIT 1) k) AS contract,
       (SELECT row_to_json(a)
          FROM (SELECT customer_id, started_on, active, balance::text AS balance,
                       daily_cost::text AS daily_cost, days_left::text AS days_left, standing,
                       estimated_on, connected
                FROM cost_control_agreements WHERE tenant_id = $5 AND customer_id = c.id) a) AS cost_control,
       {lists}
FROM customers c
LEFT JOIN reading_routes r ON r.tenant_id = c.tenant_id AND r.id = c.route_id
LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.account_manager_id
WHERE c.tenant_id = $5 AND c.id = $1";
