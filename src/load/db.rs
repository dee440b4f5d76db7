//! Reading load: a customer's meters, their days from `load_days`, the
//! tenant's bands, prices and the company's peak quarter.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Bands, Day, peak_shift::TouPrices};

#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MeterRef {
    pub id: Uuid,
    pub serial: String,
    /// The supply point's code.
    pub point: String,
}

/// The meters installed for the customer at any time from `from` on, each once.
pub async fn customer_meters(
    conn: &mut PgConnection,
    customer_id: Uuid,
    from: NaiveDate,
) -> sqlx::Result<Vec<MeterRef>> {
    sqlx::query_as!(
        MeterRef,
        r#"SELECT DISTINCT ON (m.serial) m.id, m.serial AS "serial!", p.code AS point
           FROM supply_points p
           JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id
           JOIN meters m ON m.tenant_id = i.tenant_id AND m.id = i.meter_id
           WHERE p.customer_id = $1 AND (i.removed_on IS NULL OR i.removed_on >= $2)
           ORDER BY m.serial"#,
        customer_id,
        from
    )
    .fetch_all(conn)
    .await
}

/// The meter and its customer, when the meter is this tenant's.
pub async fn meter(conn: &mut PgConnection, meter_id: Uuid) -> sqlx::Result<Option<(MeterRef, Option<Uuid>)>> {
    let row = sqlx::query!(
        r#"SELECT m.id, m.serial AS "serial!", p.code AS "point?", p.customer_id AS "customer_id?"
           FROM meters m
           LEFT JOIN meter_installations i ON i.tenant_id = m.tenant_id AND i.meter_id = m.id AND i.removed_on IS NULL
           LEFT JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
           WHERE m.id = $1"#,
        meter_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (MeterRef { id: r.id, serial: r.serial, point: r.point.unwrap_or_default() }, r.customer_id)))
}

/// The meters' days from `from` to `to` inclusive, by meter then day.
pub async fn days(
    conn: &mut PgConnection,
    meters: &[Uuid],
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<(Uuid, Day)>> {
    let rows = sqlx::query!(
        r#"SELECT meter_id, day, minutes, kw AS "kw!: Vec<Option<f64>>"
           FROM load_days
           WHERE tenant_id = app_tenant_id() AND meter_id = ANY ($1) AND day BETWEEN $2 AND $3
           ORDER BY meter_id, day"#,
        meters,
        from,
        to
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.meter_id, Day::from_stored(r.day, r.minutes, &r.kw))).collect())
}

/// The last day any of the meters has data for.
pub async fn last_day(conn: &mut PgConnection, meters: &[Uuid]) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar!(
        "SELECT max(day) FROM load_days WHERE tenant_id = app_tenant_id() AND meter_id = ANY ($1)",
        meters
    )
    .fetch_one(conn)
    .await
}

/// The tenant's time-of-use bands (the defaults when none are set, or when
/// what is stored no longer parses).
pub async fn bands(conn: &mut PgConnection) -> sqlx::Result<Bands> {
    let row = sqlx::query!("SELECT peak_periods, valley_periods FROM billing_settings").fetch_optional(conn).await?;
    Ok(row.and_then(|r| Bands::parse(&r.peak_periods, &r.valley_periods)).unwrap_or_default())
}

/// The customer's time-of-use prices on `day`, when their tariff is time-of-use.
pub async fn tou_prices(conn: &mut PgConnection, customer_id: Uuid, day: NaiveDate) -> sqlx::Result<Option<TouPrices>> {
    let row = sqlx::query!(
        r#"SELECT v.peak_price, v.valley_price
           FROM customers c
           JOIN LATERAL (SELECT peak_price, valley_price, energy_kind FROM tariff_versions t
                         WHERE t.tenant_id = c.tenant_id AND t.tariff_code = c.tariff_code AND t.effective_from <= $2
                         ORDER BY t.effective_from DESC LIMIT 1) v ON true
           WHERE c.id = $1 AND v.energy_kind = 'time_of_use'"#,
        customer_id,
        day
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|r| Some(TouPrices { peak: r.peak_price?, valley: r.valley_price? })))
}

/// Customers' names, account numbers and time-of-use prices on `day`, in one read.
pub async fn customers_with_prices(
    conn: &mut PgConnection,
    ids: &[Uuid],
    day: NaiveDate,
) -> sqlx::Result<Vec<(Uuid, String, String, Option<TouPrices>)>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.name, c.account_no,
                  CASE WHEN v.energy_kind = 'time_of_use' THEN v.peak_price END AS "peak_price?",
                  CASE WHEN v.energy_kind = 'time_of_use' THEN v.valley_price END AS "valley_price?"
           FROM customers c
           LEFT JOIN LATERAL (SELECT peak_price, valley_price, energy_kind FROM tariff_versions t
                              WHERE t.tenant_id = c.tenant_id AND t.tariff_code = c.tariff_code AND t.effective_from <= $2
                              ORDER BY t.effective_from DESC LIMIT 1) v ON true
           WHERE c.id = ANY ($1)"#,
        ids,
        day
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let prices = r.peak_price.zip(r.valley_price).map(|(peak, valley)| TouPrices { peak, valley });
            (r.id, r.name, r.account_no, prices)
        })
        .collect())
}

/// The power factor of the customer's bills from `from` on (where reactive energy was read).
pub async fn power_factors(
    conn: &mut PgConnection,
    customer_id: Uuid,
    from: NaiveDate,
) -> sqlx::Result<Vec<(NaiveDate, Decimal)>> {
    let rows = sqlx::query!(
        r#"SELECT period, power_factor AS "power_factor!" FROM bills
           WHERE customer_id = $1 AND period >= $2 AND status = 'issued' AND power_factor IS NOT NULL
           ORDER BY period"#,
        customer_id,
        from
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.period, r.power_factor)).collect())
}

/// The meters of every customer with load data from `from` to `to`, with
/// the customer: the large customers as the peak-shifting list sees them.
pub async fn metered_customers(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT p.customer_id, l.meter_id
           FROM (SELECT DISTINCT meter_id FROM load_days
                 WHERE tenant_id = app_tenant_id() AND day BETWEEN $1 AND $2) l
           JOIN meter_installations i ON i.tenant_id = app_tenant_id() AND i.meter_id = l.meter_id
                AND (i.removed_on IS NULL OR i.removed_on >= $1)
           JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id"#,
        from,
        to
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.customer_id, r.meter_id)).collect())
}

/// The quarter of the day at which the large customers' total load is
/// highest on an average weekday from `from` to `to`: the company's peak.
pub async fn company_peak_quarter(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Option<usize>> {
    let q = sqlx::query_scalar!(
        r#"SELECT q AS "q!" FROM (
               SELECT ((u.ord - 1) * (l.minutes / 15))::int AS q, l.day, sum(u.v) AS total
               FROM load_days l, unnest(l.kw) WITH ORDINALITY AS u (v, ord)
               WHERE l.tenant_id = app_tenant_id() AND l.day BETWEEN $1 AND $2 AND extract(isodow FROM l.day) < 6
               GROUP BY 1, 2) t
           GROUP BY q ORDER BY avg(total) DESC NULLS LAST LIMIT 1"#,
        from,
        to
    )
    .fetch_optional(conn)
    .await?;
    Ok(q.and_then(|q| usize::try_from(q).ok()))
}

/// A group of customers whose meters' load is summed.
#[derive(Clone, Debug, PartialEq)]
pub enum Group {
    Company,
    /// A reading route, by code.
    Route(String),
    /// An industry, by code.
    Industry(String),
}

/// The summed load of the group's meters (those installed at its customers'
/// supply points at any time from `from` on), per day from `from` to `to`,
/// at quarter hours (a 30-minute meter's value counts in both its quarters).
/// Summed in SQL, so a company's thousands of meters send one row a day.
pub async fn group_days(
    conn: &mut PgConnection,
    group: &Group,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<Day>> {
    let (route, industry) = match group {
        Group::Company => (None, None),
        Group::Route(code) => (Some(code.as_str()), None),
        Group::Industry(code) => (None, Some(code.as_str())),
    };
    let rows = sqlx::query!(
        r#"WITH m AS (
               SELECT DISTINCT i.meter_id FROM customers c
               JOIN supply_points p ON p.tenant_id = c.tenant_id AND p.customer_id = c.id
               JOIN meter_installations i ON i.tenant_id = p.tenant_id AND i.supply_point_id = p.id
               WHERE ($1::text IS NULL OR c.route_id = (SELECT r.id FROM reading_routes r WHERE r.code = $1)) AND ($2::text IS NULL OR c.industry_code = $2)
                 AND (i.removed_on IS NULL OR i.removed_on >= $3)
           ),
           q AS (
               SELECT l.day, (u.i - 1) * (l.minutes / 15) + k AS quarter, sum(u.v) AS kw
               FROM load_days l JOIN m ON m.meter_id = l.meter_id
               CROSS JOIN LATERAL unnest(l.kw) WITH ORDINALITY AS u (v, i)
               CROSS JOIN LATERAL generate_series(0, l.minutes / 15 - 1) AS k
               WHERE l.tenant_id = app_tenant_id() AND l.day BETWEEN $3 AND $4
               GROUP BY 1, 2
           )
           SELECT day AS "day!", array_agg(kw ORDER BY quarter) AS "kw!: Vec<Option<f64>>"
           FROM q GROUP BY day ORDER BY day"#,
        route,
        industry,
        from,
        to
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| Day::from_stored(r.day, 15, &r.kw)).collect())
}

/// The last day any meter of the company has data for.
pub async fn company_last_day(conn: &mut PgConnection) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar!("SELECT max(day) FROM load_days WHERE tenant_id = app_tenant_id()").fetch_one(conn).await
}
