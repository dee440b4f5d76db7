//! Monthly and yearly energy (kWh) of a customer, with the new capacity of
//! business expansion (业扩报装).
//!
//! The rule:
//! - Days of the period already measured count as measured (a day with at
//!   least half its readings: the mean kW × 24 h).
//! - Every other day is forecast as the mean daily energy of the measured
//!   days of the last [`BASE_DAYS`] that behave like it under the tenant
//!   calendar (a holiday like a Sunday, see `dayahead`), or of all of them
//!   when none does. No yearly season is modelled: the history is a quarter
//!   at most, so the year is the recent weeks' level carried forward.
//! - An expansion order in progress (not powered on, not cancelled) adds
//!   `added kVA × POWER_FACTOR × the industry's load factor` kW, powered on
//!   [`EXPECTED_POWER_ON_DAYS`] after the forecast day and ramped linearly
//!   from nothing to the full load over [`RAMP_DAYS`]. Added kVA is the
//!   order's requested capacity less the supply point's present capacity
//!   (all of it for a new connection). The industry's load factor is the
//!   mean, over the tenant's customers of the industry with a capacity and
//!   measured days, of their mean kW over `capacity × POWER_FACTOR`;
//!   [`DEFAULT_LOAD_FACTOR`] when the tenant has none such.
//! - An order powered on within [`RAMP_DAYS`] before the forecast day: its
//!   load is already in the meter data, so the base is taken from the days
//!   since the power-on only (when there are at least seven), not from the
//!   weeks before it.

use chrono::{Duration, NaiveDate};

use super::dayahead::{Calendar, Days};

pub const BASE_DAYS: usize = 28;
pub const POWER_FACTOR: f64 = 0.9;
pub const DEFAULT_LOAD_FACTOR: f64 = 0.35;
pub const EXPECTED_POWER_ON_DAYS: i64 = 30;
pub const RAMP_DAYS: i64 = 90;

/// New capacity on the way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expansion {
    pub added_kva: f64,
    pub power_on: NaiveDate,
    /// The customer's industry's load factor.
    pub load_factor: f64,
}

impl Expansion {
    /// kW the expansion adds on `day`.
    pub fn kw_on(&self, day: NaiveDate) -> f64 {
        let ramp = ((day - self.power_on).num_days() as f64 / RAMP_DAYS as f64).clamp(0.0, 1.0);
        self.added_kva * POWER_FACTOR * self.load_factor * ramp
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Energy {
    pub kwh: f64,
    /// The part of `kwh` from expansion.
    pub expansion_kwh: f64,
}

/// The energy of one measured day: its mean kW over a day; none with fewer
/// than half its readings.
pub fn day_kwh(values: &[f64]) -> Option<f64> {
    let known: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    (known.len() * 2 >= values.len() && !known.is_empty())
        .then(|| known.iter().sum::<f64>() / known.len() as f64 * 24.0)
}

/// The energy from `start` up to (not including) `end`, from the history in
/// `days` (which ends the day before the forecast day) and the expansions.
/// `base_from` is the first day the base may use (a recent power-on).
pub fn energy(
    days: &Days,
    calendar: &Calendar,
    base_from: Option<NaiveDate>,
    start: NaiveDate,
    end: NaiveDate,
    expansions: &[Expansion],
) -> Energy {
    let spd = days.steps_per_day;
    let n = days.len();
    let measured: Vec<Option<f64>> = (0..n).map(|d| day_kwh(&days.values[d * spd..(d + 1) * spd])).collect();
    let date = |d: usize| days.first_day + Duration::days(d as i64);
    let mut first = n.saturating_sub(BASE_DAYS);
    if let Some(from) = base_from {
        let since = (from - days.first_day).num_days().max(0) as usize;
        if since > first && (since..n).filter(|&d| measured[d].is_some()).count() >= 7 {
            first = since;
        }
    }
    let base: Vec<(u32, f64)> =
        (first..n).filter_map(|d| measured[d].map(|kwh| (calendar.behaves_like(date(d)), kwh))).collect();
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let overall = mean(base.iter().map(|b| b.1).collect()).unwrap_or(0.0);
    let mut total = Energy::default();
    let mut day = start;
    while day < end {
        let index = (day - days.first_day).num_days();
        let measured_day = (0..n as i64).contains(&index).then(|| measured[index as usize]).flatten();
        match measured_day {
            Some(kwh) => total.kwh += kwh,
            None => {
                let like = calendar.behaves_like(day);
                let kwh = mean(base.iter().filter(|b| b.0 == like).map(|b| b.1).collect()).unwrap_or(overall);
                let added: f64 = expansions.iter().map(|e| e.kw_on(day) * 24.0).sum();
                total.kwh += kwh + added;
                total.expansion_kwh += added;
            }
        }
        day += Duration::days(1);
    }
    total
}

/// The first of the month `months` months after the one `day` is in.
pub fn month_start(day: NaiveDate, months: u32) -> NaiveDate {
    use chrono::Datelike;
    let index = day.year() * 12 + day.month0() as i32 + months as i32;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).expect("a valid month")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_steady_load_and_a_ramped_expansion_by_hand() {
        // 28 days of a steady 10 kW up to 31 October; November is all forecast.
        let days =
            Days { first_day: day(2026, 10, 4), steps_per_day: 4, values: vec![10.0; 28 * 4], temperature: None };
        let calendar = Calendar::new(&[6, 7], HashSet::new(), HashSet::new());
        let november = energy(&days, &calendar, None, day(2026, 11, 1), day(2026, 12, 1), &[]);
        assert_eq!(november, Energy { kwh: 7200.0, expansion_kwh: 0.0 });
        // 100 kVA at load factor 0.5 powered on 1 November: 45 kW at full
        // load, k/90 of it on day k, so 45 × 24 / 90 × (0 + 1 + … + 29) kWh.
        let expansion = Expansion { added_kva: 100.0, power_on: day(2026, 11, 1), load_factor: 0.5 };
        let with = energy(&days, &calendar, None, day(2026, 11, 1), day(2026, 12, 1), &[expansion]);
        assert!((with.expansion_kwh - 5220.0).abs() < 1e-6, "{with:?}");
        assert!((with.kwh - 12420.0).abs() < 1e-6);
        assert_eq!(expansion.kw_on(day(2027, 6, 1)), 45.0, "full after the ramp");
        assert_eq!(expansion.kw_on(day(2026, 10, 1)), 0.0, "nothing before power-on");
    }

    #[test]
    fn measured_days_count_as_measured_and_day_types_are_kept_apart() {
        // Weekdays 20 kW, weekends 5 kW; 28 days from Monday 5 October 2026.
        let values: Vec<f64> = (0..28).flat_map(|d| [if d % 7 >= 5 { 5.0 } else { 20.0 }; 2]).collect();
        let days = Days { first_day: day(2026, 10, 5), steps_per_day: 2, values, temperature: None };
        let holiday = day(2026, 11, 4); // a Wednesday
        let calendar = Calendar::new(&[6, 7], [holiday].into(), HashSet::new());
        // 1 Nov (Sunday) is forecast; 2–8 Nov: five weekdays less the holiday, two weekend days.
        let week = energy(&days, &calendar, None, day(2026, 11, 2), day(2026, 11, 9), &[]);
        assert_eq!(week.kwh, 4.0 * 480.0 + 3.0 * 120.0);
        // October's last days are measured: 30 Oct (Friday) 480 kWh, 31 Oct (Saturday) 120.
        let measured = energy(&days, &calendar, None, day(2026, 10, 30), day(2026, 11, 1), &[]);
        assert_eq!(measured.kwh, 600.0);
    }

    #[test]
    fn a_recent_power_on_takes_the_base_from_the_days_since() {
        // 10 kW until 20 October, 30 kW from 21 October (a line powered on).
        let values: Vec<f64> = (0..28).map(|d| if d < 17 { 10.0 } else { 30.0 }).collect();
        let days = Days { first_day: day(2026, 10, 4), steps_per_day: 1, values, temperature: None };
        let calendar = Calendar::new(&[], HashSet::new(), HashSet::new());
        let next_day = |base_from| energy(&days, &calendar, base_from, day(2026, 11, 1), day(2026, 11, 2), &[]).kwh;
        assert_eq!(next_day(Some(day(2026, 10, 21))), 720.0);
        assert!(next_day(None) < 720.0);
    }

    #[test]
    fn month_starts_roll_over_the_year() {
        assert_eq!(month_start(day(2026, 11, 17), 0), day(2026, 11, 1));
        assert_eq!(month_start(day(2026, 11, 17), 2), day(2027, 1, 1));
        assert_eq!(month_start(day(2026, 12, 31), 12), day(2027, 12, 1));
    }
}
