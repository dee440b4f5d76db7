//! What the tariff analysis reads, set-based: one statement per question,
//! never one per customer.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    billing::{calc::Bands, db as billing_db, tariff::Tariff},
    tariff_analysis::{Billed, ClassTotal, ENERGY_LINES, MonthUsage, PricedKwh},
};

/// The customer as the recommendation needs them.
#[derive(Clone, Debug)]
pub struct CustomerTariff {
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
    pub class_code: String,
    pub tariff_code: String,
    /// The customer's contracted capacity, else their supply points' (as a bill run takes it).
    pub capacity_kva: Option<Decimal>,
}

/// None when the customer is not in this company.
pub async fn customer(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<CustomerTariff>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_as!(
        CustomerTariff,
        r#"SELECT c.id, c.account_no, c.name, c.class_code, c.tariff_code,
                  coalesce(c.capacity_kva, (SELECT sum(p.capacity_kva) FROM supply_points p WHERE p.tenant_id = $2 AND p.customer_id = c.id)) AS capacity_kva
           FROM customers c WHERE c.tenant_id = $2 AND c.id = $1"#,
        id,
        tenant_id
    )
    .fetch_optional(conn)
    .await
}

/// The tariff categories some customer of `class_code` is on (an index
/// probe per category: migration 0040).
pub async fn class_tariffs(conn: &mut PgConnection, class_code: &str) -> sqlx::Result<Vec<String>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    sqlx::query_scalar!(
        r#"SELECT t.code FROM tariff_categories t
           WHERE t.tenant_id = $2
             AND EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = $2 AND c.class_code = $1 AND c.tariff_code = t.code)
           ORDER BY t.code"#,
        class_code,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// Every tariff of the tenant with all its versions, by code.
pub async fn tariffs(conn: &mut PgConnection) -> sqlx::Result<BTreeMap<String, Vec<Tariff>>> {
    let mut map: BTreeMap<String, Vec<Tariff>> = BTreeMap::new();
    for v in billing_db::versions(conn, None).await? {
        map.entry(v.tariff_code.clone()).or_default().push(v.to_tariff());
    }
    Ok(map)
}

/// The customer's months in [from, until) with an issued bill: the bill's
/// kWh, amount and power factor, the time-of-use split of its energy lines
/// (for a month billed flat: of the meters' register readings, when they
/// tell it), and the month's maximum demand: the largest read on
/// the customer's meters for the period, else the largest in `load_days` of
/// the meters installed at the customer's supply points that month.
pub async fn months(
    conn: &mut PgConnection,
    customer: Uuid,
    from: NaiveDate,
    until: NaiveDate,
) -> sqlx::Result<Vec<MonthUsage>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"WITH b AS (
               -- Amounts as charged before demand-response credits (not the tariff's doing).
               SELECT id, period, energy_kwh, amount - coalesce((SELECT sum(l.amount) FROM bill_lines l WHERE l.tenant_id = $4 AND l.bill_id = bills.id AND l.kind = 'demand_response'), 0) AS amount,
                      power_factor FROM bills
               WHERE tenant_id = $4 AND customer_id = $1 AND status = 'issued' AND period >= $2 AND period < $3
           ),
           lines AS (
               SELECT l.bill_id,
                      sum(l.quantity) FILTER (WHERE l.kind = 'energy_peak') AS peak,
                      sum(l.quantity) FILTER (WHERE l.kind = 'energy_flat') AS flat,
                      sum(l.quantity) FILTER (WHERE l.kind = 'energy_valley') AS valley,
                      bool_or(l.kind = 'energy') AS unbanded
               FROM bill_lines l WHERE l.tenant_id = $4 AND l.bill_id IN (SELECT id FROM b) GROUP BY l.bill_id
           ),
           -- The time-of-use split from the registers, for a month billed flat:
           -- each meter's regular reading less the month before's, × multiplier;
           -- only when every meter of the month has both readings, bands, and no
           -- register that went down (a replacement or a rollover leaves it unknown).
           regs AS (
               SELECT r.period, (r.peak - lag(r.peak) OVER w) * m.multiplier AS peak,
                      (r.flat - lag(r.flat) OVER w) * m.multiplier AS flat,
                      (r.valley - lag(r.valley) OVER w) * m.multiplier AS valley,
                      lag(r.period) OVER w AS before
               FROM meter_readings r JOIN meters m ON m.tenant_id = $4 AND m.id = r.meter_id
               WHERE r.tenant_id = $4 AND r.customer_id = $1 AND r.kind = 'regular' AND r.status IN ('ok', 'accepted')
                 AND r.period >= ($2::date - 1 * interval '1 month') AND r.period < $3
               WINDOW w AS (PARTITION BY r.meter_id ORDER BY r.period)
           ),
           reg_bands AS (
               SELECT period, sum(peak) AS peak, sum(flat) AS flat, sum(valley) AS valley
               FROM regs WHERE period >= $2
               GROUP BY period
               HAVING bool_and(coalesce(before = (period - interval '1 month')::date
                                        AND peak >= 0 AND flat >= 0 AND valley >= 0, false))
           ),
           read AS (
               SELECT period, max(max_demand_kw) AS kw FROM meter_readings
               WHERE tenant_id = $4 AND customer_id = $1 AND period >= $2 AND period < $3 AND status IN ('ok', 'accepted')
               GROUP BY period
           ),
           curve AS (
               SELECT date_trunc('month', d.day)::date AS month, max(x.kw) AS kw
               FROM supply_points p
               JOIN meter_installations i ON i.tenant_id = $4 AND i.supply_point_id = p.id
               JOIN load_days d ON d.tenant_id = $4 AND d.meter_id = i.meter_id AND d.day >= greatest(i.installed_on, $2)
                    AND d.day < least(coalesce(i.removed_on, $3), $3)
               CROSS JOIN LATERAL (SELECT max(k) AS kw FROM unnest(d.kw) AS k) x
               WHERE p.tenant_id = $4 AND p.customer_id = $1
               GROUP BY 1
           )
           SELECT b.period AS "period!", b.energy_kwh AS "energy_kwh!", b.amount AS "amount!", b.power_factor,
                  l.peak, l.flat, l.valley, coalesce(l.unbanded, true) AS "unbanded!",
                  g.peak AS reg_peak, g.flat AS reg_flat, g.valley AS reg_valley,
                  coalesce(r.kw, round(c.kw::numeric, 2)) AS max_demand_kw
           FROM b LEFT JOIN lines l ON l.bill_id = b.id
           LEFT JOIN reg_bands g ON g.period = b.period
           LEFT JOIN read r ON r.period = b.period
           LEFT JOIN curve c ON c.month = b.period
           ORDER BY b.period"#,
        customer,
        from,
        until,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let bands = match (r.unbanded, r.peak, r.flat, r.valley) {
                (false, Some(peak), Some(flat), Some(valley)) => Some(Bands { peak, flat, valley }),
                _ => match (r.reg_peak, r.reg_flat, r.reg_valley) {
                    (Some(peak), Some(flat), Some(valley)) => Some(Bands { peak, flat, valley }),
                    _ => None,
                },
            };
            MonthUsage {
                month: r.period,
                kwh: r.energy_kwh,
                bands,
                max_demand_kw: r.max_demand_kw,
                power_factor: r.power_factor,
                billed: r.amount,
            }
        })
        .collect())
}

/// kWh and revenue by class and month over [from, until), from the
/// customer metrics (each customer in their class now).
pub async fn class_months(
    conn: &mut PgConnection,
    from: NaiveDate,
    until: NaiveDate,
) -> sqlx::Result<Vec<(String, NaiveDate, ClassTotal)>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"SELECT c.class_code, m.month, sum(m.energy_kwh) AS "kwh!", sum(m.billed) AS "billed!"
           FROM customer_metrics m JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id
           WHERE m.tenant_id = $3 AND m.month >= $1 AND m.month < $2
           GROUP BY 1, 2 ORDER BY 2, 1"#,
        from,
        until,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let total = ClassTotal { class_code: r.class_code.clone(), kwh: r.kwh, revenue: r.billed };
            (r.class_code, r.month, total)
        })
        .collect())
}

/// kWh and revenue by class over [from, until).
pub async fn class_totals(conn: &mut PgConnection, from: NaiveDate, until: NaiveDate) -> sqlx::Result<Vec<ClassTotal>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"SELECT c.class_code, sum(m.energy_kwh) AS "kwh!", sum(m.billed) AS "billed!"
           FROM customer_metrics m JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id
           WHERE m.tenant_id = $3 AND m.month >= $1 AND m.month < $2
           GROUP BY 1 ORDER BY 1"#,
        from,
        until,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| ClassTotal { class_code: r.class_code, kwh: r.kwh, revenue: r.billed }).collect())
}

/// The scope of a what-if: issued bills of [from, until), optionally of one
/// class and one tariff.
#[derive(Clone, Debug)]
pub struct Scope {
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub class_code: Option<String>,
    pub tariff_code: Option<String>,
}

/// Per class: the energy lines' kWh at each unit price.
pub async fn class_priced(conn: &mut PgConnection, s: &Scope) -> sqlx::Result<Vec<PricedKwh<String>>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"SELECT c.class_code, l.unit_price, sum(l.quantity) AS "kwh!"
           FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
           JOIN bill_lines l ON l.tenant_id = b.tenant_id AND l.bill_id = b.id
           WHERE b.tenant_id = $6 AND b.status = 'issued' AND b.period >= $1 AND b.period < $2
             AND ($3::text IS NULL OR c.class_code = $3) AND ($4::text IS NULL OR b.tariff_code = $4)
             AND l.kind = ANY ($5)
           GROUP BY 1, 2"#,
        s.from,
        s.until,
        s.class_code,
        s.tariff_code,
        &ENERGY_LINES.map(String::from)[..],
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| PricedKwh { key: r.class_code, unit_price: r.unit_price, kwh: r.kwh }).collect())
}

/// Per class: kWh and amount billed.
pub async fn class_billed(conn: &mut PgConnection, s: &Scope) -> sqlx::Result<Vec<Billed<String>>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        // Amounts as charged before demand-response credits (not the tariff's doing).
        r#"SELECT c.class_code, sum(b.energy_kwh) AS "kwh!",
                  sum(b.amount - coalesce((SELECT sum(l.amount) FROM bill_lines l WHERE l.tenant_id = $5 AND l.bill_id = b.id AND l.kind = 'demand_response'), 0)) AS "billed!"
           FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
           WHERE b.tenant_id = $5 AND b.status = 'issued' AND b.period >= $1 AND b.period < $2
             AND ($3::text IS NULL OR c.class_code = $3) AND ($4::text IS NULL OR b.tariff_code = $4)
           GROUP BY 1 ORDER BY 1"#,
        s.from,
        s.until,
        s.class_code,
        s.tariff_code,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| Billed { key: r.class_code, kwh: r.kwh, billed: r.billed }).collect())
}

/// A sample customer of the what-if.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SampleCustomer {
    pub class_code: String,
    /// smallest, median or largest of the class by kWh.
    pub position: String,
    pub id: Uuid,
    pub account_no: String,
    pub name: String,
}

/// The sample customers (the smallest, the median and the largest of each
/// class by the scope's kWh) with what they were billed.
pub async fn samples(conn: &mut PgConnection, s: &Scope) -> sqlx::Result<Vec<Billed<SampleCustomer>>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"WITH per AS (
               SELECT b.customer_id, c.class_code, c.account_no, c.name,
                      sum(b.energy_kwh) AS kwh,
                      sum(b.amount - coalesce((SELECT sum(l.amount) FROM bill_lines l WHERE l.tenant_id = $5 AND l.bill_id = b.id AND l.kind = 'demand_response'), 0)) AS billed
               FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
               WHERE b.tenant_id = $5 AND b.status = 'issued' AND b.period >= $1 AND b.period < $2
                 AND ($3::text IS NULL OR c.class_code = $3) AND ($4::text IS NULL OR b.tariff_code = $4)
               GROUP BY 1, 2, 3, 4
           ),
           ranked AS (
               SELECT *, row_number() OVER (PARTITION BY class_code ORDER BY kwh, account_no) AS n,
                      count(*) OVER (PARTITION BY class_code) AS of
               FROM per
           )
           SELECT customer_id AS "customer_id!", class_code AS "class_code!", account_no AS "account_no!",
                  name AS "name!", kwh AS "kwh!", billed AS "billed!",
                  CASE WHEN n = of THEN 'largest' WHEN n = 1 THEN 'smallest' ELSE 'median' END AS "position!"
           FROM ranked WHERE n IN (1, (of + 1) / 2, of)
           ORDER BY class_code, kwh"#,
        s.from,
        s.until,
        s.class_code,
        s.tariff_code,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Billed {
            key: SampleCustomer {
                class_code: r.class_code,
                position: r.position,
                id: r.customer_id,
                account_no: r.account_no,
                name: r.name,
            },
            kwh: r.kwh,
            billed: r.billed,
        })
        .collect())
}

/// Per sample customer: the energy lines' kWh at each unit price.
pub async fn customers_priced(
    conn: &mut PgConnection,
    s: &Scope,
    customers: &[Uuid],
) -> sqlx::Result<Vec<PricedKwh<Uuid>>> {
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let rows = sqlx::query!(
        r#"SELECT b.customer_id, l.unit_price, sum(l.quantity) AS "kwh!"
           FROM bills b JOIN bill_lines l ON l.tenant_id = b.tenant_id AND l.bill_id = b.id
           WHERE b.tenant_id = $6 AND b.customer_id = ANY ($1) AND b.status = 'issued' AND b.period >= $2 AND b.period < $3
             AND ($4::text IS NULL OR b.tariff_code = $4) AND l.kind = ANY ($5)
           GROUP BY 1, 2"#,
        customers,
        s.from,
        s.until,
        s.tariff_code,
        &ENERGY_LINES.map(String::from)[..],
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| PricedKwh { key: r.customer_id, unit_price: r.unit_price, kwh: r.kwh }).collect())
}

/// The tenant's customer classes and tariff categories: (code, Chinese name, English name).
pub type CodeName = (String, String, String);

pub async fn codes(conn: &mut PgConnection) -> sqlx::Result<(Vec<CodeName>, Vec<CodeName>)> {
    let classes = sqlx::query!("SELECT code, name_zh, name_en FROM customer_classes ORDER BY sort, code")
        .fetch_all(&mut *conn)
        .await?;
    let tariffs = sqlx::query!("SELECT code, name_zh, name_en FROM tariff_categories ORDER BY sort, code")
        .fetch_all(&mut *conn)
        .await?;
    Ok((
        classes.into_iter().map(|r| (r.code, r.name_zh, r.name_en)).collect(),
        tariffs.into_iter().map(|r| (r.code, r.name_zh, r.name_en)).collect(),
    ))
}
