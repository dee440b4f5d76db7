//! Demo billing history, as if taken over from the legacy billing system:
//! a bill per customer and month before the months the demo bills with real
//! runs, and the payments for them. Each customer has its own level, its own
//! yearly growth and its own payment habit, so that metrics, value tiers,
//! segments and credit ratings have something real to tell apart: a few
//! hundred large industrial and commercial customers carry most of the
//! energy; most pay on time, some late, a few let bills run into arrears.
//! The habit only sets the odds of each month (riskier in some industries
//! and for new customers), so the past predicts the future as it does in
//! life: well, not perfectly.
//!
//! Generated in the database, one statement per month.

use chrono::NaiveDate;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{db, months};

/// A customer's payment habit, from a hash of its id (out of 100) shifted
/// by `shift`: 3 in a high-risk industry, 2 for a customer of under two
/// years, so that a rating has something real to find. The habit sets the
/// odds of each month's payment (a latent behaviour, not a fixed one): a
/// customer of good habit still slips now and then. The same rule is written
/// into the SQL below; this is its readable form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Habit {
    /// 95 % of months within 12 days of the bill, 4.7 % late, 0.3 % into arrears.
    OnTime,
    /// 38 % on time, 60 % 5 to 44 days after the due date, 2 % into arrears.
    Late,
    /// 10 % on time, 30 % late, 60 % 60 to 149 days after the due date.
    Arrears,
}

pub fn habit(h: i64, shift: i64) -> Habit {
    match h % 100 {
        x if x <= 3 + shift => Habit::Arrears,
        x if x <= 15 + 2 * shift => Habit::Late,
        _ => Habit::OnTime,
    }
}

/// Months in a thousand a habit pays (on time, late, into arrears).
pub fn monthly_odds(habit: Habit) -> (u32, u32, u32) {
    match habit {
        Habit::OnTime => (950, 47, 3),
        Habit::Late => (380, 600, 20),
        Habit::Arrears => (100, 300, 600),
    }
}

/// Yearly growth of a customer's consumption from a hash of its id: -15 % to +25 %.
pub fn yearly_growth(h: i64) -> f64 {
    ((h / 7) % 41 - 15) as f64 / 100.0
}

/// Seeds `count` months of history ending the month before `first_live`
/// (oldest first), with bills issued two days after each month and due
/// fifteen days later, paid as each customer's habit says when that day has
/// come by `today`.
pub async fn seed_history(
    pool: &PgPool,
    tenant_id: Uuid,
    first_live: NaiveDate,
    count: u32,
    today: NaiveDate,
    show_progress: bool,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let periods: Vec<NaiveDate> = (1..=count).rev().map(|n| months::back(first_live, n)).collect();
    let bar = if show_progress { ProgressBar::new(periods.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} months").expect("valid template"));
    bar.set_message("history");
    let month = async |(k, period): (usize, &NaiveDate)| -> anyhow::Result<()> {
        // Years before the live months, negative: consumption grows towards today.
        let years_back = (k as f64 - count as f64) / 12.0;
        let issued = months::next(*period) + chrono::Duration::days(2);
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        // Marked customer-month by customer-month, two years of a million
        // customers fill the change log with tens of millions of rows that
        // the full rebuild at the end makes moot (migration 0024).
        sqlx::query("SET LOCAL gridcrm.metrics_marking = 'off'").execute(&mut *tx).await?;
        sqlx::query!(
            r#"WITH c AS (
                 SELECT c.id AS customer_id, c.account_no, c.tariff_code, c.class_code,
                        (hashtextextended(c.id::text, 11) & 1048575) AS h,
                        -- A riskier industry (the credit rating's high class)
                        -- and a newer customer are more often bad payers.
                        CASE WHEN c.industry_code IN ('B06', 'C30', 'C31', 'E47', 'K70') THEN 3 ELSE 0 END
                          + CASE WHEN c.created_at > $3::date - interval '2 years' THEN 2 ELSE 0 END AS shift
                 FROM customers c
                 WHERE c.status = 'active' AND c.created_at::date <= $1
               ), level AS (
                 -- Each meter in service at the level the demo readings use
                 -- (seed/billing.rs): households 120-420 kWh a month; a supply
                 -- point with a capacity at a 15-45 % load factor; else 300-5,400 kWh.
                 SELECT p.customer_id,
                        sum(CASE WHEN c.class_code = 'residential' THEN 120 + h % 300
                                 WHEN p.capacity_kva IS NOT NULL THEN p.capacity_kva * (110 + h % 220)
                                 ELSE 300 + h * 5 END) AS kwh
                 FROM (SELECT i.tenant_id, i.supply_point_id, hashint8(hashtextextended(i.meter_id::text, 0)) & 1023 AS h
                       FROM meter_installations i WHERE i.removed_on IS NULL) i
                 JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
                 JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
                 GROUP BY p.customer_id
               ), e AS (
                 -- Grown at the customer's yearly rate up to the live months,
                 -- with a wobble of up to 5 % from month to month.
                 SELECT c.*,
                        round(level.kwh * power(1 + ((h / 7) % 41 - 15) / 100.0, $4::float8)::numeric
                              * (1 + ((h + $5) % 11 - 5) / 100.0), 2) AS energy_kwh,
                        -- The habit sets the odds; each month draws (noise r):
                        -- arrears 60-149 days past due, late 5-44 days, or on time.
                        CASE WHEN r < CASE WHEN h % 100 <= 3 + shift THEN 600 WHEN h % 100 <= 15 + 2 * shift THEN 20 ELSE 3 END
                                  THEN 60 + spread % 90
                             WHEN r < CASE WHEN h % 100 <= 3 + shift THEN 900 WHEN h % 100 <= 15 + 2 * shift THEN 620 ELSE 50 END
                                  THEN 5 + spread % 40
                             ELSE -(1 + spread % 12) END AS pay_delay
                 FROM (SELECT c.*, noise % 1000 AS r, noise / 1000 AS spread
                       FROM (SELECT c.*, hashint8(c.h * 131 + $5) & 1048575 AS noise FROM c) c) c
                 JOIN level USING (customer_id)
               ), b AS (
                 SELECT gen_random_uuid() AS id, e.*,
                        round(energy_kwh * CASE class_code WHEN 'residential' THEN 0.588 WHEN 'large_industry' THEN 0.652 ELSE 0.806 END, 2) AS amount,
                        -- Negative delays count back from the due date: paid
                        -- that many days after the bill was issued.
                        CASE WHEN pay_delay < 0 THEN $2::date - pay_delay::int ELSE $2::date + 15 + pay_delay::int END AS paid_on,
                        -- A late payer pays the late fee with the bill, at the
                        -- default daily rates (0.1 % households, 0.2 % others).
                        CASE WHEN pay_delay > 0 THEN round(energy_kwh * CASE class_code WHEN 'residential' THEN 0.588 WHEN 'large_industry' THEN 0.652 ELSE 0.806 END
                                                           * CASE class_code WHEN 'residential' THEN 0.001 ELSE 0.002 END * pay_delay, 2)
                             ELSE 0 END AS fee
                 FROM e
               ), bills_in AS (
                 INSERT INTO bills (tenant_id, id, bill_no, customer_id, period, tariff_code, issued_on, due_on,
                                    energy_kwh, amount, paid, late_fee, late_fee_paid, late_fee_through, detail)
                 SELECT app_tenant_id(), id, to_char($1::date, 'YYYYMM') || account_no, customer_id, $1, tariff_code,
                        $2, $2::date + 15, energy_kwh, amount,
                        CASE WHEN paid_on <= $3 THEN amount ELSE 0 END,
                        CASE WHEN paid_on <= $3 THEN fee ELSE 0 END,
                        CASE WHEN paid_on <= $3 THEN fee ELSE 0 END,
                        CASE WHEN paid_on <= $3 AND pay_delay > 0 THEN paid_on END,
                        '{"source": "history"}'
                 FROM b
                 RETURNING NULL AS not_by_copy
               ), paying AS (
                 SELECT gen_random_uuid() AS payment_id, b.* FROM b WHERE paid_on <= $3
               ), p AS (
                 INSERT INTO payments (tenant_id, id, customer_id, amount, channel, channel_ref, received_at, booked_at, booked_by)
                 SELECT app_tenant_id(), payment_id, customer_id, amount + fee,
                        (ARRAY['wechat', 'alipay', 'bank', 'counter_cash', 'wechat'])[1 + h % 5],
                        'HIST' || replace(id::text, '-', ''), paid_on + interval '10 hours', paid_on + interval '10 hours',
                        'seed --demo'
                 FROM paying
                 RETURNING NULL AS not_by_copy
               ), a AS (
                 INSERT INTO payment_allocations (tenant_id, payment_id, bill_id, part, amount)
                 SELECT app_tenant_id(), payment_id, id, 'bill', amount FROM paying
                 UNION ALL
                 SELECT app_tenant_id(), payment_id, id, 'late_fee', fee FROM paying WHERE fee > 0
                 RETURNING NULL AS not_by_copy
               )
               SELECT count(*) AS "n!" FROM b"#,
            period,
            issued,
            today,
            years_back,
            k as i64
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        bar.inc(1);
        Ok(())
    };
    // Two months side by side: each statement is CPU-bound (key checks,
    // index inserts) on one core. Nothing is marked, so nothing of theirs
    // overlaps (marked, each month's payments marked the other's rows in
    // the opposite order and deadlocked).
    let mut work = futures_util::stream::iter(periods.iter().enumerate()).map(month).buffer_unordered(2);
    while let Some(done) = work.next().await {
        done?;
    }
    drop(work);
    db::analyze_tables(&mut *pool.acquire().await?, &["bills", "payments", "payment_allocations"]).await?;
    bar.finish();
    // Nothing was marked: the history's metrics are built in one pass.
    let report = crate::metrics::refresh(pool, tenant_id, crate::metrics::Mode::Full, &|_, _| {}).await?;
    tracing::info!(rows = report.recomputed, seconds = report.seconds, "built the history's customer metrics");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_customers_pay_on_time_and_a_few_fall_into_arrears() {
        let share = |shift: i64, h: Habit| (0..10_000).filter(|x| habit(*x, shift) == h).count() as f64 / 10_000.0;
        assert!((share(0, Habit::OnTime) - 0.84).abs() < 0.01);
        assert!((share(0, Habit::Late) - 0.12).abs() < 0.01);
        assert!((share(0, Habit::Arrears) - 0.04).abs() < 0.01);
        // A new customer in a high-risk industry: 9 % bad payers, 10 % more late.
        assert!((share(5, Habit::Arrears) - 0.09).abs() < 0.01);
        assert!((share(5, Habit::Late) - 0.17).abs() < 0.01);
        for h in [Habit::OnTime, Habit::Late, Habit::Arrears] {
            let (on_time, late, arrears) = monthly_odds(h);
            assert_eq!(on_time + late + arrears, 1000);
        }
        assert!(monthly_odds(Habit::OnTime).2 > 0, "good payers slip too");
    }

    #[test]
    fn growth_spreads_from_shrinking_to_growing() {
        let rates: Vec<f64> = (0..1000).map(yearly_growth).collect();
        assert!(rates.iter().all(|r| (-0.15..=0.25).contains(r)));
        assert!(rates.iter().any(|r| *r < -0.1) && rates.iter().any(|r| *r > 0.2));
    }
}
