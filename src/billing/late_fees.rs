//! The late-fee job (电费违约金): every day past its due date, an unpaid
//! bill accrues the tenant's daily rate on what is still unpaid of it.
//! Accrual is recorded up to a day (`late_fee_through`), so running the job
//! twice a day, or after a missed day, adds each day exactly once. `serve`
//! runs it hourly as a periodic job (src/jobs); `gridcrm late-fees` runs it once.

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    billing::{LateFeeRules, db as billing_db, late_fee_for_day},
    db,
};

const BATCH: i64 = 5000;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Report {
    pub bills: u64,
    pub amount: Decimal,
}

/// The fee for the days after `through` (or the due date) up to and including `today`.
pub fn accrued(
    unpaid: Decimal,
    due: NaiveDate,
    through: Option<NaiveDate>,
    today: NaiveDate,
    residential: bool,
    rules: &LateFeeRules,
) -> Decimal {
    let from = through.unwrap_or(due).max(due);
    from.iter_days()
        .skip(1)
        .take_while(|d| *d <= today)
        .map(|d| late_fee_for_day(unpaid, due, d, residential, rules))
        .sum()
}

pub async fn run(pool: &PgPool) -> anyhow::Result<Report> {
    let tenants =
        sqlx::query!("SELECT id, time_zone FROM tenants WHERE NOT is_platform ORDER BY id").fetch_all(pool).await?;
    let mut report = Report::default();
    for tenant in tenants {
        let tz: chrono_tz::Tz = tenant.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let today = Utc::now().with_timezone(&tz).date_naive();
        let mut after = Uuid::nil();
        loop {
            let mut tx = db::begin_tenant(pool, tenant.id, None).await?;
            let rules = billing_db::settings(&mut tx).await?.late_fees;
            let rows = sqlx::query!(
                r#"SELECT b.id, b.amount - b.paid AS "unpaid!", b.due_on, b.late_fee_through,
                          c.class_code = 'residential' AS "residential!"
                   FROM bills b JOIN customers c ON c.tenant_id = b.tenant_id AND c.id = b.customer_id
                   WHERE b.tenant_id = $4 AND b.status = 'issued' AND b.paid < b.amount AND b.due_on < $1
                     AND (b.late_fee_through IS NULL OR b.late_fee_through < $1) AND b.id > $2
                   ORDER BY b.id LIMIT $3
                   FOR UPDATE OF b SKIP LOCKED"#,
                today,
                after,
                BATCH,
                tenant.id
            )
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last().map(|r| r.id) else { break };
            let count = rows.len() as i64;
            let (ids, fees): (Vec<Uuid>, Vec<Decimal>) = rows
                .iter()
                .map(|r| (r.id, accrued(r.unpaid, r.due_on, r.late_fee_through, today, r.residential, &rules)))
                .unzip();
            sqlx::query!(
                r#"UPDATE bills b SET late_fee = b.late_fee + f.fee, late_fee_through = $3
                   FROM unnest($1::uuid[], $2::numeric[]) AS f (id, fee) WHERE b.tenant_id = $4 AND b.id = f.id"#,
                &ids,
                &fees,
                today,
                tenant.id
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            report.bills += ids.len() as u64;
            report.amount += fees.iter().copied().sum::<Decimal>();
            if count < BATCH {
                break;
            }
            after = last;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn each_day_past_due_is_counted_once() {
        let rules = LateFeeRules::default();
        // 10 days past due at 0.1% of ¥100: ¥0.10 a day.
        assert_eq!(accrued(dec!(100), d(11, 1), None, d(11, 11), true, &rules), dec!(1.00));
        // Already accrued through the 8th: three more days.
        assert_eq!(accrued(dec!(100), d(11, 1), Some(d(11, 8)), d(11, 11), true, &rules), dec!(0.30));
        assert_eq!(accrued(dec!(100), d(11, 1), Some(d(11, 11)), d(11, 11), true, &rules), dec!(0));
        // Not yet due: nothing.
        assert_eq!(accrued(dec!(100), d(11, 20), None, d(11, 11), true, &rules), dec!(0));
        // Others pay 0.2% a day.
        assert_eq!(accrued(dec!(100), d(11, 1), None, d(11, 3), false, &rules), dec!(0.40));
    }
}
