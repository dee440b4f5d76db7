//! Loyalty points in the database: the tenant's rates, earning and reversing
//! with a payment, the ledger a balance and its expiry are read from, the
//! expiry run (set-based, for one customer or the whole tenant), the
//! catalogue and redemptions, and the demo's points.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::points::{self, Kind, Movement, NewItem, Settings};

pub async fn settings(conn: &mut PgConnection) -> sqlx::Result<Settings> {
    let row = sqlx::query!(
        "SELECT on_time_points, per_100_yuan, online_bonus, amount_cap, expiry_months FROM points_settings"
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or_else(Settings::default, |r| Settings {
        on_time_points: r.on_time_points,
        per_100_yuan: r.per_100_yuan,
        online_bonus: r.online_bonus,
        amount_cap: r.amount_cap,
        expiry_months: r.expiry_months,
    }))
}

pub async fn save_settings(conn: &mut PgConnection, s: &Settings, by: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO points_settings (tenant_id, on_time_points, per_100_yuan, online_bonus, expiry_months, updated_by,
                                        amount_cap)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id) DO UPDATE SET on_time_points = excluded.on_time_points,
             per_100_yuan = excluded.per_100_yuan, online_bonus = excluded.online_bonus, amount_cap = excluded.amount_cap,
             expiry_months = excluded.expiry_months, updated_at = EXCLUDED.updated_at, updated_by = excluded.updated_by"#,
        s.on_time_points,
        s.per_100_yuan,
        s.online_bonus,
        s.expiry_months,
        by,
        s.amount_cap
    )
    .execute(conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- earning with a payment

/// Earns the points of a payment just booked (in the booking's transaction,
/// after its allocation): on time when it settled bills and none of them was
/// past its due date on the tenant's day the money was received. Returns the
/// points earned; 0 when the rules give none or the payment earned before.
pub async fn earn_for_payment(conn: &mut PgConnection, payment_id: Uuid, by: &str) -> sqlx::Result<i64> {
    let Some(p) = sqlx::query!(
        r#"SELECT p.customer_id, p.amount, p.channel, p.channel_ref, p.status,
                  EXISTS (SELECT 1 FROM payment_allocations a WHERE a.tenant_id = p.tenant_id AND a.payment_id = p.id AND a.part = 'bill')
                  AND NOT EXISTS (
                      SELECT 1 FROM payment_allocations a JOIN bills b ON b.tenant_id = a.tenant_id AND b.id = a.bill_id
                      WHERE a.tenant_id = p.tenant_id AND a.payment_id = p.id
                        AND b.due_on < (p.received_at AT TIME ZONE t.time_zone)::date
                  ) AS "on_time!"
           FROM payments p JOIN tenants t ON t.id = p.tenant_id
           WHERE p.id = $1"#,
        payment_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(0);
    };
    if p.status != "booked" {
        return Ok(0);
    }
    let rates = settings(conn).await?;
    let points = points::earn(p.amount, &p.channel, p.on_time, &rates).total();
    if points <= 0 {
        return Ok(0);
    }
    let inserted = sqlx::query!(
        r#"INSERT INTO points_ledger (tenant_id, id, customer_id, kind, points, payment_id, note, recorded_by)
           VALUES (app_tenant_id(), $1, $2, 'earn', $3, $4, $5, $6)
           ON CONFLICT (tenant_id, payment_id, kind) WHERE payment_id IS NOT NULL DO NOTHING"#,
        Uuid::now_v7(),
        p.customer_id,
        points,
        payment_id,
        p.channel_ref,
        by
    )
    .execute(conn)
    .await?;
    Ok(if inserted.rows_affected() == 1 { points } else { 0 })
}

/// Takes back exactly what a reversed payment earned (once). Returns the
/// points taken back, 0 when it earned none.
pub async fn reverse_for_payment(conn: &mut PgConnection, payment_id: Uuid, by: &str) -> sqlx::Result<i64> {
    let taken = sqlx::query_scalar!(
        r#"INSERT INTO points_ledger (tenant_id, id, customer_id, kind, points, payment_id, note, recorded_by)
           SELECT app_tenant_id(), $2, customer_id, 'reverse', -points, payment_id, note, $3
           FROM points_ledger WHERE payment_id = $1 AND kind = 'earn'
           ON CONFLICT (tenant_id, payment_id, kind) WHERE payment_id IS NOT NULL DO NOTHING
           RETURNING points"#,
        payment_id,
        Uuid::now_v7(),
        by
    )
    .fetch_optional(conn)
    .await?;
    Ok(taken.map_or(0, |p| -p))
}

// ---------------------------------------------------------------- balance and expiry

/// Where a customer's points stand on a day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Standing {
    /// Points available now: the ledger's sum, less any points whose term has
    /// run out and that the hourly expiry has not recorded yet.
    pub balance: i64,
    /// The points that will expire next, and the day they expire (from that day on they are gone).
    pub next_expiry: Option<NextExpiry>,
    /// The tenant's term: points expire this many months after they were earned.
    pub expiry_months: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NextExpiry {
    pub on: NaiveDate,
    pub points: i64,
}

/// The balance as the ledger sums it.
pub async fn balance(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT coalesce(sum(points), 0)::bigint AS "b!" FROM points_ledger WHERE customer_id = $1"#,
        customer_id
    )
    .fetch_one(conn)
    .await
}

/// Records the expiry due on `today` (the tenant's day) for one customer, or
/// every customer of the tenant: one `expire` row each for what the rule of
/// `points::due_to_expire` gives, in one statement, with a line on the
/// customer's timeline. At most once per customer and day: a run racing
/// another for the same customer waits for it and then records nothing.
/// Returns the customers whose points expired.
pub async fn expire(conn: &mut PgConnection, customer: Option<Uuid>, today: NaiveDate) -> sqlx::Result<u64> {
    let months = settings(conn).await?.expiry_months;
    // `$4`, the tenant, is named on every table: a Citus cluster then runs
    // the whole statement on the tenant's shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let expired = sqlx::query_scalar!(
        r#"WITH lots AS (
             SELECT e.customer_id, greatest(e.points + coalesce(r.points, 0), 0) AS points
             FROM points_ledger e
             JOIN tenants t ON t.id = e.tenant_id
             LEFT JOIN points_ledger r ON r.tenant_id = e.tenant_id AND r.payment_id = e.payment_id AND r.kind = 'reverse'
             WHERE e.tenant_id = $4 AND e.kind = 'earn' AND ($1::uuid IS NULL OR e.customer_id = $1)
               AND ((e.at AT TIME ZONE t.time_zone)::date + make_interval(months => $3))::date <= $2
           ), run_out AS (
             SELECT customer_id, sum(points) AS points FROM lots GROUP BY customer_id
           ), taken AS (
             SELECT l.customer_id, -sum(l.points) AS points
             FROM points_ledger l
             WHERE l.tenant_id = $4 AND l.customer_id IN (SELECT customer_id FROM run_out)
               AND (l.kind IN ('redeem', 'expire')
                    OR (l.kind = 'reverse' AND NOT EXISTS (
                        SELECT 1 FROM points_ledger e
                        WHERE e.tenant_id = $4 AND e.payment_id = l.payment_id AND e.kind = 'earn')))
             GROUP BY l.customer_id
           ), due AS (
             SELECT o.customer_id, o.points - coalesce(k.points, 0) AS points
             FROM run_out o LEFT JOIN taken k USING (customer_id)
             WHERE o.points - coalesce(k.points, 0) > 0
           ), recorded AS (
             INSERT INTO points_ledger (tenant_id, id, customer_id, kind, points, expired_on, recorded_by)
             SELECT $4::uuid, gen_random_uuid(), customer_id, 'expire', -points, $2, 'points expiry' FROM due
             ON CONFLICT (tenant_id, customer_id, expired_on) WHERE kind = 'expire' DO NOTHING
             RETURNING customer_id, points
           ), timeline AS (
             INSERT INTO customer_timeline (tenant_id, id, customer_id, at, kind, title, status, link)
             SELECT $4::uuid, gen_random_uuid(), customer_id, now(), 'points', '−' || (-points)::text,
                    'points_expired', '/customers/' || customer_id || '#points'
             FROM recorded
             RETURNING NULL AS not_by_copy
           )
           SELECT count(*) AS "n!" FROM recorded"#,
        customer,
        today,
        months,
        tenant_id
    )
    .fetch_one(conn)
    .await?;
    Ok(expired as u64)
}

/// The hourly expiry of every tenant, each on its own day. Returns the
/// customers whose points expired.
pub async fn expire_everywhere(pool: &PgPool) -> anyhow::Result<u64> {
    let tenants =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut total = 0;
    for tenant in tenants {
        let mut tx = crate::db::begin_tenant(pool, tenant, None).await?;
        let today = crate::tenants::today(&mut tx).await?;
        total += expire(&mut tx, None, today).await?;
        tx.commit().await?;
    }
    Ok(total)
}

/// One row of a customer's points history.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// earn, reverse, redeem or expire.
    pub kind: String,
    /// Signed: earned points are positive, the others negative.
    pub points: i64,
    /// The payment that earned them, or whose reversal took them back.
    pub payment_id: Option<Uuid>,
    pub redemption_id: Option<Uuid>,
    /// The redeemed item's code and names, and how many.
    pub item: Option<String>,
    pub item_name_zh: Option<String>,
    pub item_name_en: Option<String>,
    pub quantity: Option<i32>,
    /// The payment's channel reference for earn and reverse.
    pub note: String,
    pub recorded_by: String,
}

impl Entry {
    pub fn item_name(&self, lang: &str) -> &str {
        let name = if lang == "en" { &self.item_name_en } else { &self.item_name_zh };
        name.as_deref().unwrap_or_default()
    }
}

/// A customer's points as the customer page, the portal and the API show them.
pub struct CustomerPoints {
    pub standing: Standing,
    /// Newest first; when paging back, older than the entry asked for.
    pub history: Vec<Entry>,
    /// The catalogue's items on offer (active and in stock), cheapest first,
    /// when asked for; else none.
    pub items: Vec<Item>,
}

#[derive(Deserialize)]
struct MovementRow {
    on: NaiveDate,
    kind: String,
    points: i64,
    payment_id: Option<Uuid>,
}

/// The columns of [`customer_points_query`].
#[derive(Deserialize)]
struct PointsColumns {
    expiry_months: Option<i32>,
    movements: serde_json::Value,
    history: serde_json::Value,
    items: serde_json::Value,
}

/// A customer's points (`$1` the customer) as one JSON column, read by
/// [`customer_points_from`]: the whole ledger with each row's day in the
/// tenant's time zone (for the standing), the history (`limit` entries,
/// older than the entry `before` when paging back; none when the customer
/// has no such entry) and, when `offered`, the items on offer. Each argument
/// is a parameter or a constant (`tenant` may be `app_tenant_id()`); the customer page reads it in its own
/// statement.
pub fn customer_points_query(before: &str, limit: &str, offered: &str, tenant: &str) -> String {
    format!(
        r#"(SELECT row_to_json(r) FROM (SELECT
              (SELECT expiry_months FROM points_settings WHERE tenant_id = {tenant}) AS expiry_months,
              (SELECT coalesce(json_agg(m), '[]')
                 FROM (SELECT (l.at AT TIME ZONE t.time_zone)::date AS on, l.kind, l.points, l.payment_id
                       FROM points_ledger l JOIN tenants t ON t.id = l.tenant_id
                       WHERE l.tenant_id = {tenant} AND l.customer_id = $1) m) AS movements,
              (SELECT coalesce(json_agg(h ORDER BY h.at DESC, h.id DESC), '[]')
                 FROM (SELECT l.id, l.at, l.kind, l.points, l.payment_id, l.redemption_id,
                              i.code AS item, i.name_zh AS item_name_zh, i.name_en AS item_name_en,
                              r.quantity, l.note, l.recorded_by
                       FROM points_ledger l
                       LEFT JOIN points_redemptions r ON r.tenant_id = l.tenant_id AND r.id = l.redemption_id
                       LEFT JOIN points_catalogue i ON i.tenant_id = r.tenant_id AND i.id = r.item_id
                       WHERE l.tenant_id = {tenant} AND l.customer_id = $1
                         AND ({before}::uuid IS NULL
                              OR (l.at, l.id) < (SELECT c.at, c.id FROM points_ledger c
                                                 WHERE c.tenant_id = {tenant} AND c.id = {before} AND c.customer_id = $1))
                       ORDER BY l.at DESC, l.id DESC
                       LIMIT {limit}) h) AS history,
              (SELECT coalesce(json_agg(i ORDER BY i.cost, i.code), '[]')
                 FROM (SELECT id, code, name_zh, name_en, cost, stock, active FROM points_catalogue
                       WHERE tenant_id = {tenant} AND {offered} AND active AND stock > 0) i) AS items
           ) r)"#
    )
}

/// A customer's standing on `today`, history and items on offer, as
/// [`customer_points_query`] describes, in one statement.
pub async fn customer_points(
    conn: &mut PgConnection,
    customer_id: Uuid,
    today: NaiveDate,
    before: Option<Uuid>,
    limit: i64,
    offered: bool,
) -> sqlx::Result<CustomerPoints> {
    // The tenant bound, for Citus (as in the customer page's statement).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let column: serde_json::Value =
        sqlx::query_scalar(&format!("SELECT {}", customer_points_query("$2", "$3", "$4", "$5")))
            .bind(customer_id)
            .bind(before)
            .bind(limit)
            .bind(offered)
            .bind(tenant_id)
            .fetch_one(conn)
            .await?;
    customer_points_from(column, today)
}

/// The points of [`customer_points_query`]'s column, standing on `today`
/// through the rules of `points`.
pub fn customer_points_from(column: serde_json::Value, today: NaiveDate) -> sqlx::Result<CustomerPoints> {
    let PointsColumns { expiry_months, movements, history, items } = crate::db::json_column("points", column)?;
    let months = expiry_months.unwrap_or_else(|| Settings::default().expiry_months);
    let ledger: Vec<Movement> = crate::db::json_column::<Vec<MovementRow>>("movements", movements)?
        .into_iter()
        .filter_map(|r| {
            Some(Movement { on: r.on, kind: Kind::parse(&r.kind)?, points: r.points, payment: r.payment_id })
        })
        .collect();
    Ok(CustomerPoints {
        standing: Standing {
            balance: points::balance(&ledger) - points::due_to_expire(&ledger, months, today),
            next_expiry: points::next_expiry(&ledger, months, today).map(|(on, points)| NextExpiry { on, points }),
            expiry_months: months,
        },
        history: crate::db::json_column("history", history)?,
        items: crate::db::json_column("items", items)?,
    })
}

// ---------------------------------------------------------------- catalogue

/// An item of the catalogue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Item {
    pub id: Uuid,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Points per item.
    pub cost: i32,
    pub stock: i32,
    /// Offered for redemption.
    pub active: bool,
}

impl Item {
    pub fn name(&self, lang: &str) -> &str {
        if lang == "en" { &self.name_en } else { &self.name_zh }
    }
}

/// Every item (`offered`: only the active ones in stock), cheapest first.
pub async fn items(conn: &mut PgConnection, offered: bool) -> sqlx::Result<Vec<Item>> {
    sqlx::query_as!(
        Item,
        "SELECT id, code, name_zh, name_en, cost, stock, active FROM points_catalogue
         WHERE NOT $1 OR (active AND stock > 0) ORDER BY cost, code",
        offered
    )
    .fetch_all(conn)
    .await
}

pub async fn item_by_code(conn: &mut PgConnection, code: &str) -> sqlx::Result<Option<Item>> {
    sqlx::query_as!(
        Item,
        "SELECT id, code, name_zh, name_en, cost, stock, active FROM points_catalogue WHERE code = $1",
        code
    )
    .fetch_optional(conn)
    .await
}

pub async fn item(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Item>> {
    sqlx::query_as!(
        Item,
        "SELECT id, code, name_zh, name_en, cost, stock, active FROM points_catalogue WHERE id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

/// Adds an item; None when its code is taken.
pub async fn add_item(conn: &mut PgConnection, item: &NewItem) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO points_catalogue (tenant_id, id, code, name_zh, name_en, cost, stock)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, code) DO NOTHING RETURNING id"#,
        Uuid::now_v7(),
        item.code,
        item.name_zh,
        item.name_en,
        item.cost,
        item.stock
    )
    .fetch_optional(conn)
    .await
}

/// Sets an item's stock and whether it is offered, if its stock is still
/// `shown` (else None: a redemption took some meanwhile).
pub async fn change_item(
    conn: &mut PgConnection,
    id: Uuid,
    stock: i32,
    shown: i32,
    active: bool,
) -> sqlx::Result<Option<Item>> {
    sqlx::query_as!(
        Item,
        "UPDATE points_catalogue SET stock = $2, active = $4 WHERE id = $1 AND stock = $3
         RETURNING id, code, name_zh, name_en, cost, stock, active",
        id,
        stock,
        shown,
        active
    )
    .fetch_optional(conn)
    .await
}

// ---------------------------------------------------------------- redemption

/// Holds the customer for the rest of the transaction, so that redemptions
/// for one customer take turns. False when the tenant has no such customer.
pub async fn lock_customer(conn: &mut PgConnection, customer_id: Uuid) -> sqlx::Result<bool> {
    // The tenant named: a Citus cluster takes row locks only on one shard.
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let found = sqlx::query_scalar!(
        "SELECT id FROM customers WHERE tenant_id = $2 AND id = $1 FOR NO KEY UPDATE",
        customer_id,
        tenant_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Takes `quantity` from an offered item's stock; false when there is not
/// enough (or it is no longer offered).
pub async fn take_stock(conn: &mut PgConnection, item_id: Uuid, quantity: i32) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE points_catalogue SET stock = stock - $2 WHERE id = $1 AND active AND stock >= $2",
        item_id,
        quantity
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A redemption as recorded.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Redemption {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// The item's code.
    pub item: String,
    pub item_name_zh: String,
    pub item_name_en: String,
    pub quantity: i32,
    /// The points it took.
    pub points: i64,
    pub redeemed_by: String,
    pub at: DateTime<Utc>,
}

/// Records a redemption and its ledger row.
pub async fn record_redemption(
    conn: &mut PgConnection,
    customer_id: Uuid,
    item: &Item,
    quantity: i32,
    points: i64,
    by: &str,
) -> sqlx::Result<Redemption> {
    let id = Uuid::now_v7();
    let at = sqlx::query_scalar!(
        r#"INSERT INTO points_redemptions (tenant_id, id, customer_id, item_id, quantity, points, redeemed_by)
           VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6) RETURNING at"#,
        id,
        customer_id,
        item.id,
        quantity,
        points,
        by
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO points_ledger (tenant_id, id, customer_id, at, kind, points, redemption_id, note, recorded_by)
           VALUES (app_tenant_id(), $1, $2, $3, 'redeem', $4, $5, $6, $7)"#,
        Uuid::now_v7(),
        customer_id,
        at,
        -points,
        id,
        format!("{} ×{quantity}", item.code),
        by
    )
    .execute(conn)
    .await?;
    Ok(Redemption {
        id,
        customer_id,
        item: item.code.clone(),
        item_name_zh: item.name_zh.clone(),
        item_name_en: item.name_en.clone(),
        quantity,
        points,
        redeemed_by: by.to_owned(),
        at,
    })
}

// ---------------------------------------------------------------- the demo

/// The demo's catalogue, and points for the payments booked so far (as if
/// each had earned when it was received, at the tenant's rates). Runs once:
/// payments that earned already are left alone. Returns the payments that earned.
pub async fn seed_demo(pool: &PgPool, tenant_id: Uuid) -> anyhow::Result<u64> {
    let mut tx = crate::db::begin_tenant(pool, tenant_id, None).await?;
    let catalogue = [
        ("E50", "电费券 50元", "¥50 electricity voucher", 5000, 200),
        ("LED-BULB", "LED 节能灯", "LED energy-saving bulb", 300, 500),
        ("SMART-PLUG", "智能插座", "Smart plug", 1200, 100),
    ];
    for (code, name_zh, name_en, cost, stock) in catalogue {
        let item = NewItem { code: code.into(), name_zh: name_zh.into(), name_en: name_en.into(), cost, stock };
        add_item(&mut tx, &item).await?;
    }
    let rates = settings(&mut tx).await?;
    let payments = sqlx::query!(
        r#"SELECT p.id, p.customer_id, p.amount, p.channel, p.channel_ref, p.received_at,
                  EXISTS (SELECT 1 FROM payment_allocations a WHERE a.tenant_id = p.tenant_id AND a.payment_id = p.id AND a.part = 'bill')
                  AND NOT EXISTS (
                      SELECT 1 FROM payment_allocations a JOIN bills b ON b.tenant_id = a.tenant_id AND b.id = a.bill_id
                      WHERE a.tenant_id = p.tenant_id AND a.payment_id = p.id
                        AND b.due_on < (p.received_at AT TIME ZONE t.time_zone)::date
                  ) AS "on_time!"
           FROM payments p JOIN tenants t ON t.id = p.tenant_id
           WHERE p.status = 'booked'
             AND NOT EXISTS (SELECT 1 FROM points_ledger l WHERE l.tenant_id = p.tenant_id AND l.payment_id = p.id AND l.kind = 'earn')"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut ids = Vec::new();
    let mut customers = Vec::new();
    let mut at = Vec::new();
    let mut points = Vec::new();
    let mut payment_ids = Vec::new();
    let mut notes = Vec::new();
    for p in payments {
        let earned = points::earn(p.amount, &p.channel, p.on_time, &rates).total();
        if earned > 0 {
            ids.push(Uuid::now_v7());
            customers.push(p.customer_id);
            at.push(p.received_at);
            points.push(earned);
            payment_ids.push(p.id);
            notes.push(p.channel_ref);
        }
    }
    let done = sqlx::query(&crate::db::not_by_copy(
        "INSERT INTO points_ledger (tenant_id, id, customer_id, at, kind, points, payment_id, note, recorded_by)
         SELECT app_tenant_id(), id, customer_id, at, 'earn', points, payment_id, note, 'seed --demo'
         FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::bigint[], $5::uuid[], $6::text[])
              AS t (id, customer_id, at, points, payment_id, note)",
    ))
    .bind(&ids)
    .bind(&customers)
    .bind(&at)
    .bind(&points)
    .bind(&payment_ids)
    .bind(&notes)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
