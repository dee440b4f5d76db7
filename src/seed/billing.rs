//! Demo meter readings: a reading per month for every meter in service, the
//! monthly usage varying around each meter's own level (households a few
//! hundred kWh, others more), with time-of-use and reactive registers.
//! Generated in the database, one statement per month.

use chrono::NaiveDate;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

/// Readings for `periods` (oldest first), each read on the 25th.
pub async fn seed_readings(
    pool: &PgPool,
    tenant_id: Uuid,
    periods: &[NaiveDate],
    show_progress: bool,
) -> anyhow::Result<()> {
    let bar = if show_progress { ProgressBar::new(periods.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} months").expect("valid template"));
    bar.set_message("readings");
    // Each month's registers follow from the month's number alone, not from
    // the month before, so months are written side by side: each statement
    // keeps one core busy (foreign-key checks, indexes), and two cores fill
    // two months in the time of one.
    let month = async |(k, period): (usize, &NaiveDate)| -> anyhow::Result<()> {
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        // Month k's total: a base, plus k months of the meter's level (a
        // household 120-420 kWh; a supply point with a capacity that
        // capacity at a 15-45 % load factor, 110-330 hours a month; else
        // 300-5,400 kWh; seed/history.rs bills the same levels), plus
        // a per-month wobble that only ever adds (registers never go back).
        sqlx::query!(
            r#"WITH m AS (
                 SELECT i.meter_id, i.supply_point_id, p.customer_id,
                        (hashint8(hashtextextended(i.meter_id::text, 0)) & 1023) AS h,
                        c.class_code = 'residential' AS residential, mt.multiplier, p.capacity_kva
                 FROM meter_installations i
                 JOIN meters mt ON mt.tenant_id = i.tenant_id AND mt.id = i.meter_id
                 JOIN supply_points p ON p.tenant_id = i.tenant_id AND p.id = i.supply_point_id
                 JOIN customers c ON c.tenant_id = p.tenant_id AND c.id = p.customer_id
                 WHERE i.removed_on IS NULL AND i.installed_on < $1
               ), r AS (
                 -- The register advances by the usage over the multiplier (a CT meter turns slower).
                 SELECT m.*, round((h * 37 % 90000)
                                   + $2 * greatest(round((CASE WHEN residential THEN 120 + h % 300
                                                               WHEN capacity_kva IS NOT NULL THEN capacity_kva * (110 + h % 220)
                                                               ELSE 300 + h * 5 END) / multiplier), 3)
                                   + (h * ($2 + 3)) % 3, 0) AS total
                 FROM m
               )
               INSERT INTO meter_readings (tenant_id, id, meter_id, supply_point_id, customer_id, period, kind, read_on,
                                           total, peak, flat, valley, reactive, source, status)
               SELECT app_tenant_id(), gen_random_uuid(), meter_id, supply_point_id, customer_id, $1, 'regular', $1 + 24,
                      total, round(total * 0.3, 0), total - 2 * round(total * 0.3, 0), round(total * 0.3, 0),
                      round(total * 0.45, 0), 'import', 'ok'
               FROM r
               ON CONFLICT DO NOTHING"#,
            period,
            k as i64
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        bar.inc(1);
        Ok(())
    };
    let side_by_side = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    let mut months = futures_util::stream::iter(periods.iter().enumerate()).map(month).buffer_unordered(side_by_side);
    while let Some(done) = months.next().await {
        done?;
    }
    drop(months);
    // The bill runs read these next.
    db::analyze_tables(&mut *pool.acquire().await?, &["meter_readings"]).await?;
    bar.finish();
    Ok(())
}

/// Bills the periods after the first (one run each), dates them as if issued
/// a few days after each month ended, and pays most of the older ones
/// through the channels, so the demo has bills, payments and some arrears.
pub async fn seed_bills(pool: &PgPool, tenant_id: Uuid, periods: &[NaiveDate], today: NaiveDate) -> anyhow::Result<()> {
    use crate::{
        billing::run::{self, Scope},
        months,
    };
    for period in periods.iter().skip(1) {
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        let run_id =
            run::create(&mut tx, Scope { period: *period, route_id: None, customer_id: None }, "seed --demo").await?;
        tx.commit().await?;
        run::execute(pool, tenant_id, run_id, None, &|_, _| {}).await?;
        // The payments below join the bills just issued.
        db::analyze_tables(&mut *pool.acquire().await?, &["bills", "bill_lines"]).await?;
        let issued = (months::next(*period) + chrono::Duration::days(2)).min(today);
        let mut tx = db::begin_tenant(pool, tenant_id, None).await?;
        sqlx::query!(
            "UPDATE bills SET issued_on = $2::date, due_on = $2::date + 15 WHERE period = $1 AND status = 'issued'",
            period,
            issued
        )
        .execute(&mut *tx)
        .await?;
        if issued + chrono::Duration::days(15) < today {
            // Nine in ten pay on time, by WeChat, Alipay, bank or at the counter.
            sqlx::query!(
                // Payment ids are drawn up front, so the allocations need no
                // join back to the payments (a join the planner, without
                // statistics on the new bills, ran as a nested loop: minutes).
                r#"WITH paying AS (
                     SELECT gen_random_uuid() AS payment_id, id, customer_id, amount, issued_on, h
                     FROM (SELECT id, customer_id, amount, issued_on, hashtextextended(id::text, 7) & 1023 AS h
                           FROM bills WHERE period = $1 AND status = 'issued' AND paid = 0) b
                     WHERE h % 10 <> 0
                   ), p AS (
                     INSERT INTO payments (tenant_id, id, customer_id, amount, channel, channel_ref, received_at, booked_by)
                     SELECT app_tenant_id(), payment_id, customer_id, amount,
                            (ARRAY['wechat', 'alipay', 'bank', 'counter_cash', 'wechat'])[1 + h % 5],
                            'DEMO' || replace(id::text, '-', ''), issued_on + (1 + h % 12) * interval '1 day', 'seed --demo'
                     FROM paying
                     RETURNING NULL AS not_by_copy
                   ), a AS (
                     INSERT INTO payment_allocations (tenant_id, payment_id, bill_id, part, amount)
                     SELECT app_tenant_id(), payment_id, id, 'bill', amount FROM paying
                     RETURNING NULL AS not_by_copy
                   )
                   UPDATE bills b SET paid = b.amount FROM paying WHERE b.id = paying.id"#,
                period
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
