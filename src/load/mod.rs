//! Load analytics: what a large customer's interval data says. The days come
//! from `load_days` (one array per meter and local day); everything here is
//! pure arithmetic on them — curves, the day's statistics, the time-of-use
//! split, typical days — and `peak_shift` the peak-shifting estimate.
//! `db` reads, `pages` and `api` serve.

pub mod api;
pub mod bands;
pub mod db;
pub mod pages;
pub mod peak_shift;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

pub use bands::{Band, Bands};

/// Quarter hours in a day: every day is read at 15 minutes (a 30-minute
/// reading covers both of its quarters).
pub const QUARTERS: usize = 96;

/// One local day of one meter (or of a sum of meters), in quarter hours.
#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub day: NaiveDate,
    /// kW per quarter hour; `None` where no reading arrived.
    pub kw: Vec<Option<f64>>,
}

impl Day {
    /// A stored day at its own interval (15 or 30 minutes), at quarters.
    pub fn from_stored(day: NaiveDate, minutes: i16, kw: &[Option<f64>]) -> Day {
        let per = usize::try_from(minutes / 15).unwrap_or(1).max(1);
        let mut quarters: Vec<Option<f64>> = kw.iter().flat_map(|v| std::iter::repeat_n(*v, per)).collect();
        quarters.resize(QUARTERS, None);
        Day { day, kw: quarters }
    }

    /// The time a quarter starts.
    pub fn at(&self, quarter: usize) -> NaiveDateTime {
        self.day.and_time(quarter_start(quarter))
    }

    pub fn is_weekend(&self) -> bool {
        matches!(self.day.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// kWh over the quarters read (a quarter at P kW is P/4 kWh).
    pub fn energy(&self) -> f64 {
        self.kw.iter().flatten().sum::<f64>() / 4.0
    }
}

pub fn quarter_start(quarter: usize) -> NaiveTime {
    let minutes = u32::try_from(quarter * 15).unwrap_or(0);
    NaiveTime::from_hms_opt(minutes / 60 % 24, minutes % 60, 0).unwrap_or(NaiveTime::MIN)
}

/// Sums days of several meters day by day (a customer's or an aggregate's
/// load): a quarter is read when at least one meter read it.
pub fn sum_days(days: impl IntoIterator<Item = Day>) -> Vec<Day> {
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<Option<f64>>> = Default::default();
    for d in days {
        let sum = by_day.entry(d.day).or_insert_with(|| vec![None; QUARTERS]);
        for (s, v) in sum.iter_mut().zip(d.kw) {
            if let Some(v) = v {
                *s = Some(s.unwrap_or(0.0) + v);
            }
        }
    }
    by_day.into_iter().map(|(day, kw)| Day { day, kw }).collect()
}

/// Maximum, average and minimum load over a period, its load rate and peak time.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub max_kw: f64,
    /// When the maximum was first reached.
    pub max_at: NaiveDateTime,
    pub avg_kw: f64,
    pub min_kw: f64,
    /// 负荷率: average load over maximum load, 0–1.
    pub load_rate: f64,
    pub energy_kwh: f64,
    /// Quarters read, and quarters the period has: the data's completeness.
    pub read: usize,
    pub expected: usize,
}

/// The period's statistics over the quarters read; `None` when nothing was.
pub fn summarize(days: &[Day]) -> Option<Summary> {
    let mut read = 0;
    let (mut sum, mut max, mut min) = (0.0, f64::MIN, f64::MAX);
    let mut max_at = None;
    for d in days {
        for (q, v) in d.kw.iter().enumerate() {
            let Some(v) = *v else { continue };
            read += 1;
            sum += v;
            if v > max {
                max = v;
                max_at = Some(d.at(q));
            }
            min = min.min(v);
        }
    }
    let max_at = max_at?;
    let avg = sum / read as f64;
    Some(Summary {
        max_kw: max,
        max_at,
        avg_kw: avg,
        min_kw: min,
        load_rate: if max > 0.0 { avg / max } else { 0.0 },
        energy_kwh: sum / 4.0,
        read,
        expected: days.len() * QUARTERS,
    })
}

/// The average of each quarter over the days given (a typical day); `None`
/// where no day read that quarter.
pub fn typical_day<'a>(days: impl IntoIterator<Item = &'a Day>) -> Vec<Option<f64>> {
    let mut sums = [(0.0, 0u32); QUARTERS];
    for d in days {
        for (s, v) in sums.iter_mut().zip(&d.kw) {
            if let Some(v) = v {
                s.0 += v;
                s.1 += 1;
            }
        }
    }
    sums.iter().map(|(s, n)| (*n > 0).then(|| s / f64::from(*n))).collect()
}

/// Energy by time-of-use band over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BandSplit {
    pub peak_kwh: f64,
    pub flat_kwh: f64,
    pub valley_kwh: f64,
}

impl BandSplit {
    pub fn total(&self) -> f64 {
        self.peak_kwh + self.flat_kwh + self.valley_kwh
    }

    /// A band's share of the total, 0–1 (0 when nothing was used).
    pub fn share(&self, band: Band) -> f64 {
        let total = self.total();
        if total <= 0.0 {
            return 0.0;
        }
        self.kwh(band) / total
    }

    pub fn kwh(&self, band: Band) -> f64 {
        match band {
            Band::Peak => self.peak_kwh,
            Band::Flat => self.flat_kwh,
            Band::Valley => self.valley_kwh,
        }
    }
}

/// Splits the days' energy by the band each quarter starts in.
pub fn split_by_band(days: &[Day], bands: &Bands) -> BandSplit {
    let of_quarter: Vec<Band> = (0..QUARTERS).map(|q| bands.band_at(quarter_start(q))).collect();
    let mut split = BandSplit::default();
    for d in days {
        for (v, band) in d.kw.iter().zip(&of_quarter) {
            let Some(kwh) = v.map(|v| v / 4.0) else { continue };
            match band {
                Band::Peak => split.peak_kwh += kwh,
                Band::Flat => split.flat_kwh += kwh,
                Band::Valley => split.valley_kwh += kwh,
            }
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    /// A day at `base` kW with `extra` from 08:00 to 12:00.
    fn day(d: &str, base: f64, extra: f64) -> Day {
        Day {
            day: date(d),
            kw: (0..QUARTERS).map(|q| Some(if (32..48).contains(&q) { base + extra } else { base })).collect(),
        }
    }

    #[test]
    fn thirty_minute_readings_cover_both_quarters() {
        let stored: Vec<Option<f64>> = (0..48).map(|i| Some(f64::from(i))).collect();
        let d = Day::from_stored(date("2026-11-02"), 30, &stored);
        assert_eq!(d.kw.len(), QUARTERS);
        assert_eq!((d.kw[0], d.kw[1], d.kw[2], d.kw[95]), (Some(0.0), Some(0.0), Some(1.0), Some(47.0)));
        // 0.5 h at each of 0..47 kW: (0 + … + 47) / 2 kWh.
        assert_eq!(d.energy(), 564.0);
    }

    #[test]
    fn the_summary_of_a_hand_computed_period() {
        // Day 1: 100 kW, 200 kW from 08:00 to 12:00; day 2: 50 kW flat, one quarter missing.
        let mut second = day("2026-11-03", 50.0, 0.0);
        second.kw[10] = None;
        let s = summarize(&[day("2026-11-02", 100.0, 100.0), second]).unwrap();
        assert_eq!((s.max_kw, s.min_kw), (200.0, 50.0));
        assert_eq!(s.max_at, date("2026-11-02").and_hms_opt(8, 0, 0).unwrap(), "first reached at 08:00");
        // Energy: day 1 = 100 × 24 + 100 × 4 = 2800; day 2 = 50 × 95 / 4 = 1187.5.
        assert_eq!(s.energy_kwh, 3987.5);
        assert_eq!((s.read, s.expected), (191, 192));
        let avg = (100.0 * 80.0 + 200.0 * 16.0 + 50.0 * 95.0) / 191.0;
        assert!((s.avg_kw - avg).abs() < 1e-9);
        assert!((s.load_rate - avg / 200.0).abs() < 1e-12);
        assert_eq!(summarize(&[Day { day: date("2026-11-02"), kw: vec![None; QUARTERS] }]), None);
    }

    #[test]
    fn meters_sum_quarter_by_quarter_and_typical_days_average() {
        let a = day("2026-11-02", 10.0, 0.0);
        let mut b = day("2026-11-02", 5.0, 5.0);
        b.kw[0] = None;
        let summed = sum_days([a, b, day("2026-11-03", 1.0, 0.0)]);
        assert_eq!(summed.len(), 2);
        assert_eq!((summed[0].kw[0], summed[0].kw[1], summed[0].kw[40]), (Some(10.0), Some(15.0), Some(20.0)));
        let typical = typical_day(&[day("2026-11-02", 10.0, 0.0), day("2026-11-03", 20.0, 10.0)]);
        assert_eq!((typical[0], typical[40]), (Some(15.0), Some(20.0)));
    }

    #[test]
    fn energy_splits_by_band() {
        let bands = Bands::parse("08:00-11:00,18:00-23:00", "23:00-07:00").unwrap();
        let split = split_by_band(&[day("2026-11-02", 100.0, 100.0)], &bands);
        // Peak 08–11 at 200 kW (600) + 18–23 at 100 (500); valley 23–07 at 100 (800);
        // flat 07–08 (100) + 11–12 at 200 (200) + 12–18 (600).
        assert_eq!((split.peak_kwh, split.flat_kwh, split.valley_kwh), (1100.0, 900.0, 800.0));
        assert!((split.share(Band::Valley) - 800.0 / 2800.0).abs() < 1e-12);
    }
}
