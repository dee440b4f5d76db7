//! Credit in the database: the tenant's card and bands, the rating job (the
//! factor inputs set-based in SQL, the points in Rust, written back with
//! COPY), the customer's rating and its history, events, securities and the
//! poor-credit list.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::credit::{self, Bands, DEFAULT_INDUSTRY_RISK, GRADES, Inputs, card::Scorecard};
use crate::db::{self, numeric::round_as_postgres};

/// A tenant's credit settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub card: Scorecard,
    /// Whether the card is the built-in one (no adopted card).
    pub default_card: bool,
    pub bands: Bands,
    pub deposit_months: f64,
    pub list_override_months: i32,
    pub adopted_at: Option<DateTime<Utc>>,
    pub adopted_by: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            card: credit::default_card(),
            default_card: true,
            bands: Bands::default(),
            deposit_months: 2.0,
            list_override_months: 12,
            adopted_at: None,
            adopted_by: None,
        }
    }
}

/// The tenant's settings row as JSON (none when the tenant kept the
/// defaults; `tenant` the tenant's expression), for [`settings`] and
/// [`customer_credit_query`].
fn settings_query(tenant: &str) -> String {
    format!(
        "(SELECT row_to_json(s) FROM (SELECT scorecard, aaa_min::float8 AS aaa_min, aa_min::float8 AS aa_min,
                  a_min::float8 AS a_min, b_min::float8 AS b_min, deposit_months::float8 AS deposit_months,
                  list_override_months, adopted_at, adopted_by FROM credit_settings WHERE tenant_id = {tenant}) s)"
    )
}

#[derive(Deserialize)]
struct SettingsRow {
    scorecard: Option<serde_json::Value>,
    aaa_min: f64,
    aa_min: f64,
    a_min: f64,
    b_min: f64,
    deposit_months: f64,
    list_override_months: i32,
    adopted_at: Option<DateTime<Utc>>,
    adopted_by: Option<String>,
}

fn settings_from(json: Option<serde_json::Value>) -> anyhow::Result<Settings> {
    let Some(json) = json else { return Ok(Settings::default()) };
    let r: SettingsRow = db::json_column("settings", json)?;
    let card = match r.scorecard {
        Some(json) => Some(serde_json::from_value::<Scorecard>(json)?),
        None => None,
    };
    Ok(Settings {
        default_card: card.is_none(),
        card: card.unwrap_or_else(credit::default_card),
        bands: Bands { aaa_min: r.aaa_min, aa_min: r.aa_min, a_min: r.a_min, b_min: r.b_min },
        deposit_months: r.deposit_months,
        list_override_months: r.list_override_months,
        adopted_at: r.adopted_at,
        adopted_by: r.adopted_by,
    })
}

pub async fn settings(conn: &mut PgConnection) -> anyhow::Result<Settings> {
    // Bound, not app_tenant_id(): sent to every shard, Citus 12.1.6 loses
    // row_to_json's field names.
    let tenant_id = crate::db::transaction_tenant(&mut *conn).await?;
    let json: Option<serde_json::Value> =
        sqlx::query_scalar(&format!("SELECT {}", settings_query("$1"))).bind(tenant_id).fetch_one(conn).await?;
    settings_from(json)
}

/// Every active customer's factor inputs for the 24 complete months before
/// `$1`, with events before `$2`. The window's bounds are dates (`date -
/// interval` is a timestamp, and against a timestamp the planner cannot use
/// the month's statistics: it guessed 150,000 rows instead of 12,000,000 and
/// sorted them on disk). Aggregated as float8 (the metrics'
/// `*_float` columns, converted when written, migration 0062): at a million
/// customers numeric aggregate states spilled the grouping to disk, and
/// converting while reading cost more than the grouping. A float
/// sum depends on the order parallel workers add in, so the ratios are
/// rounded to six places (in [`inputs_as_of`], as `round(x::numeric, 6)`
/// would): rating twice gives the same bins. `$3`/`$4`: the built-in industry risk
/// classes (a tenant's own classes in credit_industry_risk win). `$5`: the
/// tenant, named on every table so that a Citus cluster sends the statement
/// to the tenant's shard.
pub const INPUTS: &str = r#"
WITH m AS (
    SELECT cm.customer_id,
           sum(cm.paid_on_time_float) AS on_time, sum(cm.paid_late_float) AS late,
           count(*) FILTER (WHERE cm.arrears_float > 0) AS arrears_months,
           max(cm.arrears_float) AS max_arrears,
           avg(cm.billed_float) FILTER (WHERE cm.billed_float > 0) AS average_bill,
           max(cm.arrears_days) AS max_arrears_days,
           sum(cm.late_fees) AS late_fees, sum(cm.reversals) AS reversals,
           max(cm.tenure_months) AS tenure_months,
           count(*) FILTER (WHERE cm.energy_kwh_float > 0) AS energy_months,
           count(*) AS history_months,
           stddev_pop(cm.energy_kwh_float) AS energy_sd, avg(cm.energy_kwh_float) AS energy_mean
    FROM customer_metrics cm
    WHERE cm.tenant_id = $5 AND cm.month >= ($1::date - interval '24 months')::date AND cm.month < $1::date
    GROUP BY cm.customer_id
), e AS (
    SELECT ev.customer_id,
           count(*) FILTER (WHERE ev.kind = 'breach') AS breaches,
           count(*) FILTER (WHERE ev.kind = 'theft') AS thefts
    FROM credit_events ev
    WHERE ev.tenant_id = $5 AND ev.occurred_on >= ($1::date - interval '24 months')::date AND ev.occurred_on < $2::date
    GROUP BY ev.customer_id
)
SELECT c.id AS customer_id,
       CASE WHEN m.on_time + m.late > 0 THEN m.on_time / (m.on_time + m.late) END AS on_time_share,
       coalesce(m.arrears_months, 0)::integer AS arrears_months,
       CASE WHEN m.average_bill > 0 THEN m.max_arrears / m.average_bill END AS arrears_ratio,
       coalesce(m.max_arrears_days, 0)::integer AS max_arrears_days,
       coalesce(m.late_fees, 0)::integer AS late_fees,
       coalesce(m.reversals, 0)::integer AS reversals,
       coalesce(e.breaches, 0)::integer AS breaches,
       coalesce(e.thefts, 0)::integer AS thefts,
       coalesce(m.tenure_months, 0)::integer AS tenure_months,
       CASE WHEN m.energy_months >= 6 AND m.energy_mean > 0 THEN m.energy_sd / m.energy_mean END
           AS stability,
       coalesce(r.risk_class, d.risk_class, 'medium') AS industry_risk,
       coalesce(m.average_bill, 0) AS average_bill,
       coalesce(m.history_months, 0)::integer AS history_months
FROM customers c
LEFT JOIN m ON m.customer_id = c.id
LEFT JOIN e ON e.customer_id = c.id
LEFT JOIN credit_industry_risk r ON r.tenant_id = $5 AND r.industry_code = c.industry_code
LEFT JOIN unnest($3::text[], $4::text[]) AS d (industry_code, risk_class) ON d.industry_code = c.industry_code
WHERE c.tenant_id = $5 AND c.status = 'active'
"#;

/// One customer's inputs as the rating query reads them.
#[derive(Debug, sqlx::FromRow)]
pub struct RatedInputs {
    pub customer_id: Uuid,
    #[sqlx(flatten)]
    pub inputs: Inputs,
    pub average_bill: f64,
    /// Months of metrics in the window (0: nothing known about the customer yet).
    pub history_months: i32,
}

/// The inputs of every active customer as of `month` (events before `events_before`).
pub async fn inputs_as_of(
    conn: &mut PgConnection,
    month: NaiveDate,
    events_before: NaiveDate,
) -> sqlx::Result<Vec<RatedInputs>> {
    let (codes, classes): (Vec<&str>, Vec<&str>) = DEFAULT_INDUSTRY_RISK.iter().copied().unzip();
    let tenant_id = db::transaction_tenant(conn).await?;
    let mut rows: Vec<RatedInputs> = sqlx::query_as(INPUTS)
        .bind(month)
        .bind(events_before)
        .bind(&codes)
        .bind(&classes)
        .bind(tenant_id)
        .fetch_all(conn)
        .await?;
    // Rounded here rather than in the query: PostgreSQL's float8 to numeric
    // and back go through text, 4 s of the query at a million customers.
    let six_places = |v: &mut Option<f64>| *v = v.map(|x| round_as_postgres(x, 6));
    for r in &mut rows {
        six_places(&mut r.inputs.on_time_share);
        six_places(&mut r.inputs.arrears_ratio);
        six_places(&mut r.inputs.stability);
        r.average_bill = round_as_postgres(r.average_bill, 2);
    }
    Ok(rows)
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RateReport {
    pub month: Option<NaiveDate>,
    /// Customers per grade, AAA first.
    pub grades: Vec<(String, i64)>,
    pub rated: i64,
    /// Customers whose grade differs from their previous month's.
    pub changed: i64,
    pub listed: i64,
    pub delisted: i64,
}

/// One array in COPY's text format: `{1,NULL,0.25}`.
fn copy_array(out: &mut String, values: &[Option<f64>]) {
    out.push('{');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Some(x) => {
                let _ = write!(out, "{x}");
            }
            None => out.push_str("NULL"),
        }
    }
    out.push('}');
}

/// Rates every active customer of the current tenant for the current month
/// (a second rating in the same month replaces the first): one history row
/// per customer with the payment-method decision and the previous grade (the
/// grade of the customer's latest rating in an earlier month), and applies
/// the poor-credit list rule. `progress(done, total)` is called as the
/// ratings are written.
pub async fn rate_in(conn: &mut PgConnection, progress: &(dyn Fn(u64, u64) + Sync)) -> anyhow::Result<RateReport> {
    let mut laps = credit::Laps::new("credit rating");
    // One rating of a tenant at a time: two at once (the monthly job, a
    // button, the command) would both replace the month's rows and the
    // second would collide with the first's.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('credit_rating:' || app_tenant_id()::text, 0))")
        .execute(&mut *conn)
        .await?;
    let s = settings(conn).await?;
    let tenant_id = db::transaction_tenant(conn).await?;
    let month = crate::tenants::current_month(conn).await?;
    let today = crate::tenants::today(conn).await?;
    sqlx::query("SET LOCAL work_mem = '512MB'").execute(&mut *conn).await?;
    let mut rows = inputs_as_of(conn, month, today.succ_opt().unwrap_or(today)).await?;
    // In key order, the history rows go into the primary key's index (and
    // the previous ratings are looked up there) page after page.
    rows.sort_unstable_by_key(|r| r.customer_id);
    let total = rows.len() as u64;
    laps.lap("inputs");
    progress(0, total);
    // Row-level security refuses COPY into credit_ratings itself.
    sqlx::query(
        "CREATE TEMP TABLE credit_rated (customer_id uuid, score numeric(7, 2), grade text, industry_risk text,
             inputs float8[], points float8[], method text, security numeric(14, 2), list_reason text) ON COMMIT DROP",
    )
    .execute(&mut *conn)
    .await?;
    const CHUNK: usize = 50_000;
    let mut done = 0u64;
    for chunk in rows.chunks(CHUNK) {
        let mut text = String::with_capacity(chunk.len() * 250);
        for r in chunk {
            let rating = credit::rate(&s.card, &s.bands, &r.inputs);
            let method = credit::method_for(rating.grade);
            let security = credit::security_required(method, r.average_bill, s.deposit_months);
            let reason = credit::list_reason(rating.grade, &r.inputs).unwrap_or("\\N");
            let _ = write!(text, "{}\t{:.2}\t{}\t", r.customer_id, rating.score, rating.grade);
            // A risk class is one of credit::RISK_CLASSES (a check on the
            // tenant's table): nothing to escape.
            text.push_str(&r.inputs.industry_risk);
            text.push('\t');
            copy_array(&mut text, &r.inputs.numbers());
            text.push('\t');
            copy_array(&mut text, &credit::points_in_order(&rating.points));
            let _ = writeln!(text, "\t{method}\t{security:.2}\t{reason}");
        }
        let mut copy = conn.copy_in_raw("COPY credit_rated FROM STDIN").await?;
        copy.send(text.into_bytes()).await?;
        copy.finish().await?;
        done += chunk.len() as u64;
        progress(done, total);
    }
    drop(rows);
    laps.lap("scored and copied");
    sqlx::query("ANALYZE credit_rated").execute(&mut *conn).await?;
    sqlx::query("DELETE FROM credit_ratings WHERE tenant_id = app_tenant_id() AND month = $1")
        .bind(month)
        .execute(&mut *conn)
        .await?;
    laps.lap("month's earlier rows deleted");
    // The previous grade is the one of the latest rating in an earlier
    // month: a second rating in the same month keeps it. Looked up before
    // the insert, not in it: over a history table that statistics call
    // empty (a new installation's first rating, after an ANALYZE), the
    // planner picks a sequential scan for the look-up, and inside the insert
    // each scan would read every row inserted so far (seen: 1,000,000
    // ratings taking hours instead of seconds).
    sqlx::query(
        "CREATE TEMP TABLE credit_previous ON COMMIT DROP AS
         SELECT r.customer_id, p.grade, p.score
         FROM credit_rated r
         CROSS JOIN LATERAL (SELECT p.grade, p.score FROM credit_ratings p
                             WHERE p.tenant_id = $2 AND p.customer_id = r.customer_id AND p.month < $1
                             ORDER BY p.month DESC LIMIT 1) p",
    )
    .bind(month)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE credit_previous").execute(&mut *conn).await?;
    laps.lap("previous grades looked up");
    let changed: i64 = sqlx::query_scalar(
        "WITH ins AS (
           INSERT INTO credit_ratings (tenant_id, customer_id, month, score, grade, previous_grade, previous_score,
                                       method, security_required, industry_risk, inputs, points)
           SELECT $2::uuid, r.customer_id, $1, r.score, r.grade, p.grade, p.score,
                  r.method, r.security, r.industry_risk, r.inputs, r.points
           FROM credit_rated r
           LEFT JOIN credit_previous p ON p.customer_id = r.customer_id
           RETURNING previous_grade, grade)
         SELECT count(*) FROM ins WHERE previous_grade IS DISTINCT FROM grade AND previous_grade IS NOT NULL",
    )
    .bind(month)
    .bind(tenant_id)
    .fetch_one(&mut *conn)
    .await?;
    laps.lap("history written");
    let delisted = sqlx::query(
        "UPDATE poor_credit_list l SET exited_on = $1, exit_reason = 'rule', exited_by = 'rule', manual_exit = false
         FROM credit_rated r
         WHERE l.tenant_id = $2 AND r.customer_id = l.customer_id AND l.exited_on IS NULL AND NOT l.manual_entry
           AND r.list_reason IS NULL",
    )
    .bind(today)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    let listed = sqlx::query(&db::not_by_copy(
        "INSERT INTO poor_credit_list (tenant_id, id, customer_id, entered_on, entry_reason, entered_by, manual_entry)
         SELECT $2::uuid, gen_random_uuid(), r.customer_id, $1, r.list_reason, 'rule', false
         FROM credit_rated r
         LEFT JOIN poor_credit_list l ON l.tenant_id = $2 AND l.customer_id = r.customer_id
                                         AND (l.exited_on IS NULL OR l.override_until > $1)
         WHERE r.list_reason IS NOT NULL AND l.id IS NULL",
    ))
    .bind(today)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    laps.lap("list applied");
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT grade, count(*) FROM credit_rated GROUP BY grade").fetch_all(&mut *conn).await?;
    let counts: HashMap<String, i64> = counts.into_iter().collect();
    Ok(RateReport {
        month: Some(month),
        grades: GRADES.iter().map(|g| (g.to_string(), counts.get(*g).copied().unwrap_or(0))).collect(),
        rated: total as i64,
        changed,
        listed,
        delisted,
    })
}

/// Rates one tenant in a transaction of its own (the monthly job, the
/// command, the button).
pub async fn rate(pool: &PgPool, tenant_id: Uuid, progress: &(dyn Fn(u64, u64) + Sync)) -> anyhow::Result<RateReport> {
    let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
    let report = rate_in(&mut tx, progress).await?;
    tx.commit().await?;
    Ok(report)
}

/// Whether the current tenant has been rated this month (the monthly job
/// rates a tenant once a month, on its first run in the month).
pub async fn rated_this_month(conn: &mut PgConnection) -> sqlx::Result<bool> {
    let month = crate::tenants::current_month(conn).await?;
    sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM credit_ratings WHERE tenant_id = app_tenant_id() AND month >= $1) AS \"done!\"",
        month
    )
    .fetch_one(conn)
    .await
}

/// A stored rating of one customer and month.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StoredRating {
    pub month: NaiveDate,
    pub score: Decimal,
    pub grade: String,
    pub inputs: Inputs,
    /// Each factor's points.
    pub points: HashMap<String, f64>,
    pub rated_at: DateTime<Utc>,
}

/// The latest rating's decision: the newest history row.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub grade: String,
    pub score: Decimal,
    pub previous_grade: Option<String>,
    pub previous_score: Option<Decimal>,
    pub method: String,
    pub security_required: Decimal,
    pub month: NaiveDate,
}

/// Everything about one customer's credit that the customer page and the
/// credit API show.
pub struct CustomerCredit {
    /// Whether the customer is one of this company's (everything else is
    /// empty when not).
    pub found: bool,
    pub settings: Settings,
    /// The latest rating's decision; none before the first rating.
    pub decision: Option<Decision>,
    /// Ratings, newest first.
    pub history: Vec<StoredRating>,
    /// post_pay, post_pay_secured or cost_control: see [`current_method`].
    pub current_method: String,
    /// The open stay on the poor-credit list, if any.
    pub listed: Option<ListEntry>,
    /// Breaches and thefts, newest first.
    pub events: Vec<CreditEvent>,
    /// Deposits and guarantees, newest first.
    pub securities: Vec<Security>,
}

#[derive(Deserialize)]
struct RatingRow {
    month: NaiveDate,
    score: Decimal,
    grade: String,
    industry_risk: String,
    inputs: Vec<Option<f64>>,
    points: Vec<Option<f64>>,
    rated_at: DateTime<Utc>,
    previous_grade: Option<String>,
    previous_score: Option<Decimal>,
    method: String,
    security_required: Decimal,
}

/// The columns of [`customer_credit_query`]: whether the customer is found,
/// the settings, the ratings, an active cost-control agreement, the
/// securities held, the open list entry, the events, the securities.
#[derive(Deserialize)]
struct CreditColumns {
    found: bool,
    settings: Option<serde_json::Value>,
    ratings: serde_json::Value,
    cost_control: bool,
    held: Option<Decimal>,
    listed: Option<serde_json::Value>,
    events: serde_json::Value,
    securities: serde_json::Value,
}

/// A customer's credit (`$1` the customer, `tenant` the tenant's expression) as one JSON column, read by
/// [`customer_credit_from`]: the settings, the latest `ratings` (a
/// parameter or a number), what the method now depends on, the poor-credit
/// listing, the events and the securities. The customer page reads it in
/// its own statement.
pub fn customer_credit_query(ratings: &str, tenant: &str) -> String {
    format!(
        r#"(SELECT row_to_json(r) FROM (SELECT
              EXISTS (SELECT 1 FROM customers WHERE tenant_id = {tenant} AND id = $1) AS found,
              {settings} AS settings,
              (SELECT coalesce(json_agg(r ORDER BY r.month DESC), '[]')
                 FROM (SELECT month, score::text AS score, grade, industry_risk, inputs, points, rated_at,
                              previous_grade, previous_score::text AS previous_score, method,
                              -- Only ratings from before migration 0052 other than each
                              -- customer's latest lack the security (it was not kept).
                              coalesce(security_required, 0)::text AS security_required
                       FROM credit_ratings WHERE tenant_id = {tenant} AND customer_id = $1
                       ORDER BY month DESC LIMIT {ratings}) r) AS ratings,
              EXISTS (SELECT 1 FROM cost_control_agreements WHERE tenant_id = {tenant}
                        AND customer_id = $1 AND active) AS cost_control,
              (SELECT sum(amount) FROM credit_securities WHERE tenant_id = {tenant}
                        AND customer_id = $1 AND released_on IS NULL)::text AS held,
              (SELECT row_to_json(l)
                 FROM (SELECT id, customer_id, entered_on, entry_reason, entered_by, manual_entry, exited_on,
                              exit_reason, exited_by, manual_exit, override_until
                       FROM poor_credit_list
                       WHERE tenant_id = {tenant} AND customer_id = $1 AND exited_on IS NULL) l) AS listed,
              (SELECT coalesce(json_agg(e ORDER BY e.occurred_on DESC, e.recorded_at DESC), '[]')
                 FROM (SELECT id, kind, occurred_on, evidence, recorded_by, recorded_at FROM credit_events
                       WHERE tenant_id = {tenant} AND customer_id = $1) e) AS events,
              (SELECT coalesce(json_agg(s ORDER BY s.received_on DESC), '[]')
                 FROM (SELECT id, kind, amount::text AS amount, reference, received_on, released_on, recorded_by
                       FROM credit_securities WHERE tenant_id = {tenant} AND customer_id = $1) s) AS securities
           ) r)"#,
        settings = settings_query(tenant)
    )
}

/// A customer's credit in one statement, for the API (the customer page
/// reads [`customer_credit_query`] in its own): the settings, the latest
/// `ratings`, the method now, the list, events and securities.
pub async fn customer_credit(
    conn: &mut PgConnection,
    customer_id: Uuid,
    ratings: i64,
) -> anyhow::Result<CustomerCredit> {
    // The tenant bound, for Citus (as in the customer page's statement).
    let tenant_id = crate::db::transaction_tenant(conn).await?;
    let column: serde_json::Value = sqlx::query_scalar(&format!("SELECT {}", customer_credit_query("$2", "$3")))
        .bind(customer_id)
        .bind(ratings)
        .bind(tenant_id)
        .fetch_one(conn)
        .await?;
    customer_credit_from(column, customer_id)
}

/// The credit of [`customer_credit_query`]'s column.
pub fn customer_credit_from(column: serde_json::Value, customer_id: Uuid) -> anyhow::Result<CustomerCredit> {
    let CreditColumns { found, settings, ratings, cost_control, held, listed, events, securities } =
        db::json_column("credit", column)?;
    let ratings: Vec<RatingRow> = db::json_column("ratings", ratings)?;
    let decision = ratings.first().map(|r| Decision {
        grade: r.grade.clone(),
        score: r.score,
        previous_grade: r.previous_grade.clone(),
        previous_score: r.previous_score,
        method: r.method.clone(),
        security_required: r.security_required,
        month: r.month,
    });
    let required = decision.as_ref().map_or(Decimal::ZERO, |d| d.security_required);
    let history = ratings
        .into_iter()
        .map(|r| {
            Ok(StoredRating {
                inputs: Inputs::from_numbers(&r.inputs, r.industry_risk)
                    .ok_or_else(|| anyhow::anyhow!("credit_ratings.inputs of {customer_id} in {}", r.month))?,
                points: credit::points_by_factor(&r.points),
                month: r.month,
                score: r.score,
                grade: r.grade,
                rated_at: r.rated_at,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(CustomerCredit {
        found,
        settings: settings_from(settings)?,
        decision,
        history,
        current_method: current_method(cost_control, held, required).to_owned(),
        listed: listed.map(|l| db::json_column("listed", l)).transpose()?,
        events: db::json_column("events", events)?,
        securities: db::json_column("securities", securities)?,
    })
}

/// The payment method the customer has now: cost control when an agreement
/// is active, secured when deposits and guarantees held reach `required`
/// (or any is held when nothing is required), else plain post-pay.
fn current_method(cost_control: bool, held: Option<Decimal>, required: Decimal) -> &'static str {
    if cost_control {
        "cost_control"
    } else if held.is_some_and(|h| h >= required && h > Decimal::ZERO) {
        "post_pay_secured"
    } else {
        "post_pay"
    }
}

/// A stay on the poor-credit list.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListEntry {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub entered_on: NaiveDate,
    /// `theft`, `grade_c` (the rule) or the reason typed by hand.
    pub entry_reason: String,
    pub entered_by: String,
    pub manual_entry: bool,
    pub exited_on: Option<NaiveDate>,
    pub exit_reason: Option<String>,
    pub exited_by: Option<String>,
    pub manual_exit: Option<bool>,
    pub override_until: Option<NaiveDate>,
}

/// Puts a customer on the list by hand; false when already on it. A manual
/// stay is left only by hand.
pub async fn list_add(conn: &mut PgConnection, customer_id: Uuid, reason: &str, by: &str) -> sqlx::Result<bool> {
    let day = crate::tenants::today(conn).await?;
    let added = sqlx::query!(
        "INSERT INTO poor_credit_list (tenant_id, id, customer_id, entered_on, entry_reason, entered_by, manual_entry)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, true)
         ON CONFLICT (tenant_id, customer_id) WHERE exited_on IS NULL DO NOTHING",
        Uuid::now_v7(),
        customer_id,
        day,
        reason,
        by
    )
    .execute(conn)
    .await?;
    Ok(added.rows_affected() == 1)
}

/// Takes a customer off the list by hand; the rule will not put them back
/// for `override_months`. False when not on it.
pub async fn list_remove(
    conn: &mut PgConnection,
    customer_id: Uuid,
    reason: &str,
    by: &str,
    override_months: i32,
) -> sqlx::Result<bool> {
    let day = crate::tenants::today(conn).await?;
    let removed = sqlx::query!(
        "UPDATE poor_credit_list SET exited_on = $2, exit_reason = $3, exited_by = $4, manual_exit = true,
                override_until = ($2::date + make_interval(months => $5))::date
         WHERE tenant_id = app_tenant_id() AND customer_id = $1 AND exited_on IS NULL",
        customer_id,
        day,
        reason,
        by,
        override_months
    )
    .execute(conn)
    .await?;
    Ok(removed.rows_affected() == 1)
}

/// A breach or theft recorded on a customer.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CreditEvent {
    pub id: Uuid,
    pub kind: String,
    pub occurred_on: NaiveDate,
    pub evidence: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

pub async fn record_event(
    conn: &mut PgConnection,
    customer_id: Uuid,
    kind: &str,
    occurred_on: NaiveDate,
    evidence: &str,
    by: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO credit_events (tenant_id, id, customer_id, kind, occurred_on, evidence, recorded_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6)",
        id,
        customer_id,
        kind,
        occurred_on,
        evidence,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// A deposit or guarantee held (or released) for a customer.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Security {
    pub id: Uuid,
    pub kind: String,
    pub amount: Decimal,
    pub reference: String,
    pub received_on: NaiveDate,
    pub released_on: Option<NaiveDate>,
    pub recorded_by: String,
}

pub async fn record_security(
    conn: &mut PgConnection,
    customer_id: Uuid,
    kind: &str,
    amount: Decimal,
    reference: &str,
    received_on: NaiveDate,
    by: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO credit_securities (tenant_id, id, customer_id, kind, amount, reference, received_on, recorded_by)
         VALUES (app_tenant_id(), $1, $2, $3, $4, $5, $6, $7)",
        id,
        customer_id,
        kind,
        amount,
        reference,
        received_on,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// A row of the poor-credit list page.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ListRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub account_no: String,
    pub name: String,
    pub industry_code: String,
    pub grade: Option<String>,
    pub score: Option<Decimal>,
    pub entered_on: NaiveDate,
    pub entry_reason: String,
    pub entered_by: String,
    pub manual_entry: bool,
    pub exited_on: Option<NaiveDate>,
    pub exit_reason: Option<String>,
    pub exited_by: Option<String>,
}

/// The list's filters: who is on it now (or every stay), entered from a day,
/// by hand or by the rule, a reason, an industry; newest first, keyset paged
/// by (entered_on, id).
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub include_past: bool,
    pub entered_from: Option<NaiveDate>,
    pub manual: Option<bool>,
    pub reason: Option<String>,
    pub industry: Option<String>,
    pub after: Option<(NaiveDate, Uuid)>,
}

pub async fn list(conn: &mut PgConnection, q: &ListQuery, limit: i64) -> sqlx::Result<Vec<ListRow>> {
    let (after_day, after_id) = q.after.unzip();
    sqlx::query_as!(
        ListRow,
        r#"SELECT l.id, l.customer_id, c.account_no, c.name, c.industry_code, cc.grade AS "grade?", cc.score AS "score?",
                  l.entered_on, l.entry_reason, l.entered_by, l.manual_entry, l.exited_on, l.exit_reason, l.exited_by
           FROM poor_credit_list l
           JOIN customers c ON c.tenant_id = l.tenant_id AND c.id = l.customer_id
           LEFT JOIN LATERAL (SELECT cr.grade, cr.score FROM credit_ratings cr
                              WHERE cr.tenant_id = l.tenant_id AND cr.customer_id = l.customer_id
                              ORDER BY cr.month DESC LIMIT 1) cc ON true
           WHERE l.tenant_id = app_tenant_id()
             AND ($1 OR l.exited_on IS NULL)
             AND ($2::date IS NULL OR l.entered_on >= $2)
             AND ($3::boolean IS NULL OR l.manual_entry = $3)
             AND ($4::text IS NULL OR l.entry_reason = $4)
             AND ($5::text IS NULL OR c.industry_code = $5)
             AND ($6::date IS NULL OR (l.entered_on, l.id) < ($6, $7))
           ORDER BY l.entered_on DESC, l.id DESC
           LIMIT $8"#,
        q.include_past,
        q.entered_from,
        q.manual,
        q.reason,
        q.industry,
        after_day,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// For each of `months`, the customers whose oldest overdue bill was more
/// than 90 days old at a month end in the twelve months from it: the bad
/// outcome calibration predicts. One pass over the months they span.
pub async fn bad_within_year(
    conn: &mut PgConnection,
    months: &[NaiveDate],
) -> sqlx::Result<Vec<std::collections::HashSet<Uuid>>> {
    let mut bad = vec![std::collections::HashSet::new(); months.len()];
    let (Some(first), Some(last)) = (months.iter().min(), months.iter().max()) else { return Ok(bad) };
    let rows: Vec<(Uuid, NaiveDate)> = sqlx::query_as(
        "SELECT customer_id, month FROM customer_metrics
         WHERE month >= $1 AND month < ($2::date + interval '12 months')::date AND arrears_days > 90",
    )
    .bind(first)
    .bind(last)
    .fetch_all(conn)
    .await?;
    let windows: Vec<(NaiveDate, NaiveDate)> =
        months.iter().map(|&m| (m, m.checked_add_months(chrono::Months::new(12)).unwrap_or(NaiveDate::MAX))).collect();
    for (customer_id, month) in rows {
        for ((from, until), set) in windows.iter().zip(&mut bad) {
            if (*from..*until).contains(&month) {
                set.insert(customer_id);
            }
        }
    }
    Ok(bad)
}

/// A stored calibration.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    pub id: Uuid,
    pub run_at: DateTime<Utc>,
    pub run_by: String,
    pub report: serde_json::Value,
    pub card: serde_json::Value,
    pub adopted_at: Option<DateTime<Utc>>,
    pub adopted_by: Option<String>,
}

pub async fn save_calibration(
    conn: &mut PgConnection,
    report: &serde_json::Value,
    card: &Scorecard,
    by: &str,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO credit_calibrations (tenant_id, id, run_by, report, card) VALUES (app_tenant_id(), $1, $2, $3, $4)",
        id,
        by,
        report,
        serde_json::to_value(card)?
    )
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn latest_calibration(conn: &mut PgConnection) -> sqlx::Result<Option<Calibration>> {
    sqlx::query_as!(
        Calibration,
        "SELECT id, run_at, run_by, report, card, adopted_at, adopted_by FROM credit_calibrations
         ORDER BY run_at DESC LIMIT 1"
    )
    .fetch_optional(conn)
    .await
}

/// Makes a calibration's card the tenant's (the bands stay). False when
/// there is no such calibration or it was adopted already.
pub async fn adopt(conn: &mut PgConnection, calibration_id: Uuid, by: &str) -> sqlx::Result<bool> {
    let card = sqlx::query_scalar!(
        "UPDATE credit_calibrations SET adopted_at = now(), adopted_by = $2
         WHERE tenant_id = app_tenant_id() AND id = $1 AND adopted_at IS NULL RETURNING card",
        calibration_id,
        by
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(card) = card else { return Ok(false) };
    sqlx::query!(
        "INSERT INTO credit_settings (tenant_id, scorecard, adopted_at, adopted_by) VALUES (app_tenant_id(), $1, now(), $2)
         ON CONFLICT (tenant_id) DO UPDATE SET scorecard = $1, adopted_at = EXCLUDED.adopted_at, adopted_by = $2",
        card,
        by
    )
    .execute(conn)
    .await?;
    Ok(true)
}

/// A customer's credit as lists show it: the grade (None: not rated) and
/// whether they are on the poor-credit list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub grade: Option<String>,
    pub listed: bool,
}

/// Marks by customer, for a page of results.
#[derive(Clone, Debug, Default)]
pub struct Marks(pub HashMap<Uuid, Mark>);

impl Marks {
    pub fn of(&self, customer_id: &Uuid) -> Mark {
        self.0.get(customer_id).cloned().unwrap_or_default()
    }
}

/// The marks of a page of customers of `tenant_id` (bound, so that Citus
/// sends the statement to the tenant's shard): two lookups by key (the
/// latest rating is the first of the customer's rows in the primary key's
/// index read backwards).
pub async fn marks(conn: &mut PgConnection, tenant_id: Uuid, ids: &[Uuid]) -> sqlx::Result<Marks> {
    let rows = sqlx::query!(
        r#"SELECT c.id AS "id!", cc.grade AS "grade?",
                  EXISTS (SELECT 1 FROM poor_credit_list l WHERE l.tenant_id = $2 AND l.customer_id = c.id
                            AND l.exited_on IS NULL) AS "listed!"
           FROM unnest($1::uuid[]) AS c (id)
           LEFT JOIN LATERAL (SELECT cr.grade FROM credit_ratings cr
                              WHERE cr.tenant_id = $2 AND cr.customer_id = c.id
                              ORDER BY cr.month DESC LIMIT 1) cc ON true"#,
        ids,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(Marks(rows.into_iter().map(|r| (r.id, Mark { grade: r.grade, listed: r.listed })).collect()))
}

/// The tenant's own industry risk classes (where they differ from the built-in ones).
pub async fn own_industry_risk(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!("SELECT industry_code, risk_class FROM credit_industry_risk ORDER BY industry_code")
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.industry_code, r.risk_class)).collect())
}

/// Saves the bands, the deposit rule, the override and the industry classes
/// (a class equal to the built-in one is not stored).
pub async fn save_settings(conn: &mut PgConnection, s: &credit::CheckedSettings) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO credit_settings (tenant_id, aaa_min, aa_min, a_min, b_min, deposit_months, list_override_months)
         VALUES (app_tenant_id(), $1::float8::numeric, $2::float8::numeric, $3::float8::numeric, $4::float8::numeric,
                 $5::float8::numeric, $6)
         ON CONFLICT (tenant_id) DO UPDATE SET aaa_min = excluded.aaa_min, aa_min = excluded.aa_min,
             a_min = excluded.a_min, b_min = excluded.b_min, deposit_months = excluded.deposit_months,
             list_override_months = excluded.list_override_months",
        s.bands.aaa_min,
        s.bands.aa_min,
        s.bands.a_min,
        s.bands.b_min,
        s.deposit_months,
        s.list_override_months
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM credit_industry_risk").execute(&mut *conn).await?;
    let (codes, classes): (Vec<String>, Vec<String>) =
        s.risk.iter().filter(|(code, class)| credit::industry_risk(code, &[]) != class.as_str()).cloned().unzip();
    // Not by COPY (row-level security refuses it on a Citus cluster).
    sqlx::query!(
        "INSERT INTO credit_industry_risk (tenant_id, industry_code, risk_class)
         SELECT app_tenant_id(), code, class FROM unnest($1::text[], $2::text[]) AS r (code, class)
         RETURNING NULL AS not_by_copy",
        &codes,
        &classes
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}
