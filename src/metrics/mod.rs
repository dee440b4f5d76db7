//! Customer metrics: one row per customer and calendar month (the tenant's
//! time zone) in `customer_metrics`, the facts every evaluation reads (value
//! tiers, segments, credit). Computed set-based in SQL by the `metrics` job
//! (hourly in `serve`) or `gridcrm metrics refresh [--tenant S] [--full]`.
//!
//! The columns, for customer C and month M:
//! - `energy_kwh`, `billed`: C's issued bills of period M (cancelled ones left out).
//! - `paid_on_time`, `paid_late`: what booked (not reversed) payments paid of
//!   those bills, received by the due date (local day) or after it.
//! - `arrears`, `arrears_days`: at the end of M (today, for the running
//!   month): the unpaid amount of issued bills due before that day, and the
//!   days since the due date of the oldest of them. A reversed payment counts
//!   as never made.
//! - `late_fees`: M's bills carrying a late fee; `reversals`: payments
//!   reversed in M; `complaints`: complaint contacts received in M;
//!   `work_orders`: work orders created in M.
//! - `load_rate` (mean over maximum kW) and `peak_share` (share of the
//!   energy drawn in the peak hours) from interval data of C's meters in M,
//!   the meters' readings at one time summed; NULL without interval data.
//! - `yoy_growth`: energy against the bills of the same month a year before;
//!   NULL without a bill in either month or with zero energy a year before.
//! - `tenure_months`: calendar months from the customer's creation to M.
//!
//! A row exists for a customer-month with activity: a bill of the period, a
//! payment received or reversed, a complaint, a work order or interval data.
//! Arrears alone make no row (a customer who stopped being billed keeps the
//! arrears of the last month with activity).
//!
//! Incremental: triggers (migration 0020) and the interval load record the
//! customer-months whose sources changed in `customer_metric_changes`; a
//! refresh takes them and recomputes only those, a month at a time. `--full`
//! recomputes every month from the tenant's first activity in one statement
//! that reads each source once.

pub mod db;

use chrono::{Datelike, NaiveDate, Timelike};
use rust_decimal::Decimal;

/// The peak hours (local, the hour an interval starts in): 08–11 and 18–21.
/// The tariffs carry peak/flat/valley prices but no hours (the meters' own
/// registers split the energy), so interval data uses this default.
pub const PEAK_HOURS: [u32; 6] = [8, 9, 10, 18, 19, 20];

/// Whether an interval starting at `local` lies in the peak hours.
pub fn in_peak(local: chrono::NaiveDateTime) -> bool {
    PEAK_HOURS.contains(&local.hour())
}

/// Largest growth stored (numeric(12, 4) holds more; beyond ±9,999 = 999,900 %
/// the figure means only "from almost nothing").
pub const GROWTH_LIMIT: Decimal = Decimal::from_parts(9999, 0, 0, false, 0);

/// Energy against the same month a year before (0.1 = 10 % more): `None`
/// without a bill in either month, or when a year before was zero.
pub fn yoy_growth(energy: Option<Decimal>, year_before: Option<Decimal>) -> Option<Decimal> {
    let (now, before) = (energy?, year_before?);
    if before <= Decimal::ZERO {
        return None;
    }
    Some(((now - before) / before).round_dp(4).clamp(-GROWTH_LIMIT, GROWTH_LIMIT))
}

/// Mean over maximum demand (负荷率), from the demands of a month.
pub fn load_rate(kw: &[Decimal]) -> Option<Decimal> {
    let max = kw.iter().copied().max()?;
    if max <= Decimal::ZERO {
        return None;
    }
    let mean = kw.iter().copied().sum::<Decimal>() / Decimal::from(kw.len());
    Some((mean / max).round_dp(4))
}

/// The share of the energy drawn in the peak hours, from (local start, kW).
pub fn peak_share(intervals: &[(chrono::NaiveDateTime, Decimal)]) -> Option<Decimal> {
    let total: Decimal = intervals.iter().map(|(_, kw)| *kw).sum();
    if total <= Decimal::ZERO {
        return None;
    }
    let peak: Decimal = intervals.iter().filter(|(t, _)| in_peak(*t)).map(|(_, kw)| *kw).sum();
    Some((peak / total).round_dp(4))
}

/// Calendar months from the month of `since` to `month` (0 for the same month or before).
pub fn tenure_months(since: NaiveDate, month: NaiveDate) -> i32 {
    let months = |d: NaiveDate| d.year() * 12 + d.month0() as i32;
    (months(month) - months(since)).max(0)
}

/// The day the arrears of `month` are taken at: its last day, or `today` for
/// the running month (`None` for a month not begun).
pub fn arrears_day(month: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
    let month = crate::months::start_of(month);
    let last = crate::months::next(month).pred_opt()?;
    (month <= today).then_some(last.min(today))
}

/// How a refresh chooses what to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The customer-months recorded as changed (and the running month of
    /// customers with overdue bills, whose arrears age daily).
    Incremental,
    /// Every month from the tenant's first activity.
    Full,
}

/// What a refresh did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RefreshReport {
    /// Customer-month rows computed (inserted or updated).
    pub recomputed: u64,
    /// Rows deleted because their customer-month no longer has activity.
    pub removed: u64,
    pub seconds: f64,
}

impl std::ops::AddAssign for RefreshReport {
    fn add_assign(&mut self, other: Self) {
        self.recomputed += other.recomputed;
        self.removed += other.removed;
        self.seconds += other.seconds;
    }
}

pub use db::refresh;

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn growth_needs_both_years_and_a_non_zero_base() {
        assert_eq!(yoy_growth(Some(dec!(110)), Some(dec!(100))), Some(dec!(0.1)));
        assert_eq!(yoy_growth(Some(dec!(50)), Some(dec!(200))), Some(dec!(-0.75)));
        assert_eq!(yoy_growth(Some(dec!(0)), Some(dec!(200))), Some(dec!(-1)));
        assert_eq!(yoy_growth(Some(dec!(1)), Some(dec!(3))), Some(dec!(-0.6667)));
        assert_eq!(yoy_growth(Some(dec!(100)), None), None, "no bill a year before");
        assert_eq!(yoy_growth(None, Some(dec!(100))), None, "no bill this month");
        assert_eq!(yoy_growth(Some(dec!(100)), Some(dec!(0))), None, "nothing to grow from");
        assert_eq!(yoy_growth(Some(dec!(1000000)), Some(dec!(0.01))), Some(GROWTH_LIMIT), "capped");
    }

    #[test]
    fn load_rate_is_mean_over_peak_demand() {
        assert_eq!(load_rate(&[dec!(10), dec!(20), dec!(30), dec!(40)]), Some(dec!(0.625)));
        assert_eq!(load_rate(&[dec!(5), dec!(5)]), Some(dec!(1)));
        assert_eq!(load_rate(&[dec!(0), dec!(0)]), None);
        assert_eq!(load_rate(&[]), None);
    }

    #[test]
    fn peak_share_counts_the_peak_hours_only() {
        let at = |h: u32, m: u32| d(2026, 10, 5).and_hms_opt(h, m, 0).unwrap();
        assert!(in_peak(at(8, 0)) && in_peak(at(10, 45)) && in_peak(at(20, 59)));
        assert!(!in_peak(at(7, 45)) && !in_peak(at(11, 0)) && !in_peak(at(21, 0)) && !in_peak(at(14, 0)));
        let day = [(at(9, 0), dec!(30)), (at(13, 0), dec!(10)), (at(19, 30), dec!(30)), (at(3, 0), dec!(30))];
        assert_eq!(peak_share(&day), Some(dec!(0.6)));
        assert_eq!(peak_share(&[(at(9, 0), dec!(0))]), None);
    }

    #[test]
    fn tenure_counts_calendar_months() {
        assert_eq!(tenure_months(d(2025, 11, 30), d(2026, 10, 1)), 11);
        assert_eq!(tenure_months(d(2026, 10, 30), d(2026, 10, 1)), 0);
        assert_eq!(tenure_months(d(2026, 12, 1), d(2026, 10, 1)), 0, "never negative");
    }

    #[test]
    fn arrears_are_taken_at_the_month_end_or_today() {
        let today = d(2026, 12, 2);
        assert_eq!(arrears_day(d(2026, 2, 1), today), Some(d(2026, 2, 28)));
        assert_eq!(arrears_day(d(2024, 2, 1), today), Some(d(2024, 2, 29)));
        assert_eq!(arrears_day(d(2026, 12, 1), today), Some(today), "the running month");
        assert_eq!(arrears_day(d(2027, 1, 1), today), None);
    }
}
