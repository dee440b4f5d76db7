//! The customer baseline load (CBL) and the verified reduction of a demand
//! response event: what the participant would have drawn in the window had
//! they not been asked, against what they drew.
//!
//! The method, step by step (all times in the tenant's local time):
//!
//! 1. **Similar days** ([`candidate_days`]): for an event on a working day,
//!    the working days before it; on a non-working day, the non-working
//!    days. A working day is a weekday that is not a holiday of the tenant's
//!    calendar, or a weekend day the calendar makes a working day (调休).
//!    Days of earlier demand response events are left out (their load was
//!    cut on purpose). The search goes back [`LOOKBACK_DAYS`] days.
//! 2. The most recent [`SIMILAR_DAYS`] (5) candidates whose data covers both
//!    the window and the adjustment hours are used; a day with a missing
//!    reading there is passed over. Fewer than 5 such days: no baseline
//!    ([`Outcome::NoBaseline`]), and no reward.
//! 3. **High 4 of 5**: of those 5 days the [`HIGHEST`] (4) with the most
//!    energy in the window are kept (on a tie, the more recent day); the
//!    baseline is their average demand, interval by interval.
//! 4. **Same-day adjustment** ([`adjustment`]): the event day's energy in
//!    the [`ADJUSTMENT_HOURS`] (2) hours that end [`ADJUSTMENT_GAP_HOURS`]
//!    (1) hour before the window starts, divided by the baseline's energy in
//!    the same hours, scales the baseline. The factor is capped to
//!    1 ± [`ADJUSTMENT_CAP`] (0.8–1.2), so that an unusual morning (or load
//!    shifted ahead of the window on purpose) moves the baseline at most
//!    20 %. The gap keeps the hour just before the window, when a
//!    participant may already be ramping down, out of it. A window that
//!    starts before 03:00 has no such hours on its day: the factor is 1.
//! 5. **Verified reduction**: per interval of the window,
//!    `max(0, adjusted baseline − actual)` in kW, times the interval's
//!    length in hours, summed over the window, in kWh. An interval above the
//!    baseline does not cancel one below it. The event day's data must
//!    cover the window and the adjustment hours
//!    ([`Outcome::MissingData`] otherwise).
//! 6. **Reward** ([`reward`]): the verified kWh, rounded to the watt-hour
//!    (3 places, half away from zero) as stored, times the event's price per
//!    kWh, rounded to the fen (half away from zero), as the bill rounds.
//!
//! A customer with several meters is settled on their summed load
//! ([`combine`]); 15- and 30-minute data are brought to the coarser
//! interval by averaging pairs of quarter hours.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Timelike};
use rust_decimal::{Decimal, RoundingStrategy, prelude::FromPrimitive};

/// Similar days the baseline is drawn from.
pub const SIMILAR_DAYS: usize = 5;
/// Of them, the days with the most energy in the window that are averaged.
pub const HIGHEST: usize = 4;
/// How far back similar days are looked for.
pub const LOOKBACK_DAYS: i64 = 45;
/// The same-day adjustment's hours ...
pub const ADJUSTMENT_HOURS: u32 = 2;
/// ... which end this long before the window starts.
pub const ADJUSTMENT_GAP_HOURS: u32 = 1;
/// The adjustment factor stays within 1 ± this.
pub const ADJUSTMENT_CAP: f64 = 0.2;

/// One day of a customer's load: `kw[i]` is the average demand from local
/// midnight + i × `minutes` for `minutes`; `None` where no reading came.
#[derive(Clone, Debug, PartialEq)]
pub struct DayLoad {
    pub day: NaiveDate,
    pub minutes: u32,
    pub kw: Vec<Option<f64>>,
}

impl DayLoad {
    /// The day at a coarser (or equal) interval: each slot the average of
    /// the finer slots it spans, `None` if any of them is. A finer target
    /// than the data repeats each value.
    pub fn at(&self, minutes: u32) -> DayLoad {
        let kw = if minutes == self.minutes {
            self.kw.clone()
        } else if minutes > self.minutes {
            let n = (minutes / self.minutes) as usize;
            self.kw
                .chunks(n)
                .map(|c| c.iter().copied().sum::<Option<f64>>().map(|s| s / n as f64).filter(|_| c.len() == n))
                .collect()
        } else {
            let n = (self.minutes / minutes) as usize;
            self.kw.iter().flat_map(|v| std::iter::repeat_n(*v, n)).collect()
        };
        DayLoad { day: self.day, minutes, kw }
    }
}

/// The summed load of one customer's meters on one day, at the coarsest
/// interval among them; a slot is `None` when any meter lacks it. `None`
/// for no meters.
pub fn combine(meters: &[DayLoad]) -> Option<DayLoad> {
    let first = meters.first()?;
    let minutes = meters.iter().map(|m| m.minutes).max()?;
    let mut sum = first.at(minutes);
    for m in &meters[1..] {
        let m = m.at(minutes);
        for (s, v) in sum.kw.iter_mut().zip(m.kw) {
            *s = s.zip(v).map(|(a, b)| a + b);
        }
    }
    Some(sum)
}

/// The tenant's calendar, as far as similar days need it.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    /// ISO weekday numbers of the weekend (6 = Saturday, 7 = Sunday).
    pub weekend: Vec<u32>,
    /// Weekdays off.
    pub holidays: Vec<NaiveDate>,
    /// Weekend days worked (调休).
    pub working: Vec<NaiveDate>,
}

impl Calendar {
    pub fn is_working(&self, day: NaiveDate) -> bool {
        if self.holidays.contains(&day) {
            false
        } else if self.working.contains(&day) {
            true
        } else {
            !self.weekend.contains(&day.weekday().number_from_monday())
        }
    }
}

/// The days a baseline may be drawn from, most recent first: the
/// [`LOOKBACK_DAYS`] before `event_day` of the same kind (working or not),
/// without `excluded` (earlier event days).
pub fn candidate_days(event_day: NaiveDate, calendar: &Calendar, excluded: &[NaiveDate]) -> Vec<NaiveDate> {
    let working = calendar.is_working(event_day);
    (1..=LOOKBACK_DAYS)
        .map(|n| event_day - Duration::days(n))
        .filter(|d| calendar.is_working(*d) == working && !excluded.contains(d))
        .collect()
}

/// An event's window, local times on whole half hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

fn minute_of_day(t: NaiveTime) -> u32 {
    t.hour() * 60 + t.minute()
}

impl Window {
    /// The slots of the window at `minutes`.
    fn slots(self, minutes: u32) -> std::ops::Range<usize> {
        (minute_of_day(self.start) / minutes) as usize..(minute_of_day(self.end) / minutes) as usize
    }

    /// The slots of the adjustment hours at `minutes`; empty when the window
    /// starts too early in the day to have them.
    fn adjustment_slots(self, minutes: u32) -> std::ops::Range<usize> {
        let start = minute_of_day(self.start);
        let before = (ADJUSTMENT_HOURS + ADJUSTMENT_GAP_HOURS) * 60;
        if start < before {
            return 0..0;
        }
        let from = (start - before) / minutes;
        let to = (start - ADJUSTMENT_GAP_HOURS * 60) / minutes;
        from as usize..to as usize
    }
}

/// Whether every slot of `range` has a reading.
fn covers(kw: &[Option<f64>], range: std::ops::Range<usize>) -> bool {
    range.end <= kw.len() && kw[range].iter().all(Option::is_some)
}

fn energy(kw: &[Option<f64>], range: std::ops::Range<usize>, minutes: u32) -> f64 {
    kw[range].iter().map(|v| v.unwrap_or(0.0)).sum::<f64>() * f64::from(minutes) / 60.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    /// Fewer than [`SIMILAR_DAYS`] similar days with data.
    NoBaseline,
    /// The event day's data does not cover the window and adjustment hours.
    MissingData,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::NoBaseline => "no_baseline",
            Outcome::MissingData => "missing_data",
        }
    }
}

/// What the method found for one participant.
#[derive(Clone, Debug, PartialEq)]
pub struct Settlement {
    pub outcome: Outcome,
    /// The similar days used (the 5), most recent first.
    pub similar_days: Vec<NaiveDate>,
    /// The days averaged (the highest 4), most recent first.
    pub baseline_days: Vec<NaiveDate>,
    /// The same-day adjustment factor (capped).
    pub adjustment: f64,
    /// The interval of the figures below.
    pub minutes: u32,
    /// The adjusted baseline and the actual demand per slot of the window, kW.
    pub baseline_kw: Vec<f64>,
    pub actual_kw: Vec<f64>,
    pub baseline_kwh: f64,
    pub actual_kwh: f64,
    pub verified_kwh: f64,
}

/// The same-day adjustment factor: `event` / `baseline` energy in the
/// adjustment hours, within 1 ± [`ADJUSTMENT_CAP`]; 1 when the baseline
/// drew nothing then.
pub fn adjustment(event_kwh: f64, baseline_kwh: f64) -> f64 {
    if baseline_kwh <= 0.0 {
        return 1.0;
    }
    (event_kwh / baseline_kwh).clamp(1.0 - ADJUSTMENT_CAP, 1.0 + ADJUSTMENT_CAP)
}

/// Settles one participant: `event` is their load on the event day,
/// `history` their load on the candidate days, most recent first (as
/// [`candidate_days`] lists them; days without data may be absent).
pub fn settle(event: &DayLoad, history: &[DayLoad], window: Window) -> Settlement {
    let minutes = event.minutes;
    let slots = window.slots(minutes);
    let adj = window.adjustment_slots(minutes);
    let mut result = Settlement {
        outcome: Outcome::MissingData,
        similar_days: Vec::new(),
        baseline_days: Vec::new(),
        adjustment: 1.0,
        minutes,
        baseline_kw: Vec::new(),
        actual_kw: Vec::new(),
        baseline_kwh: 0.0,
        actual_kwh: 0.0,
        verified_kwh: 0.0,
    };
    let usable: Vec<DayLoad> = history
        .iter()
        .map(|d| d.at(minutes))
        .filter(|d| covers(&d.kw, slots.clone()) && covers(&d.kw, adj.clone()))
        .take(SIMILAR_DAYS)
        .collect();
    result.similar_days = usable.iter().map(|d| d.day).collect();
    if usable.len() < SIMILAR_DAYS {
        result.outcome = Outcome::NoBaseline;
        return result;
    }
    if !covers(&event.kw, slots.clone()) || !covers(&event.kw, adj.clone()) {
        return result;
    }
    // Highest window energy first; the sort is stable, so a tie keeps the more recent day first.
    let mut ranked: Vec<&DayLoad> = usable.iter().collect();
    ranked.sort_by(|a, b| energy(&b.kw, slots.clone(), minutes).total_cmp(&energy(&a.kw, slots.clone(), minutes)));
    ranked.truncate(HIGHEST);
    ranked.sort_by_key(|d| std::cmp::Reverse(d.day));
    result.baseline_days = ranked.iter().map(|d| d.day).collect();
    let mean = |slot: usize| ranked.iter().map(|d| d.kw[slot].unwrap_or(0.0)).sum::<f64>() / ranked.len() as f64;
    let hours = f64::from(minutes) / 60.0;
    let baseline_adj: f64 = adj.clone().map(mean).sum::<f64>() * hours;
    let event_adj = energy(&event.kw, adj.clone(), minutes);
    result.adjustment = if adj.is_empty() { 1.0 } else { adjustment(event_adj, baseline_adj) };
    for slot in slots {
        let baseline = mean(slot) * result.adjustment;
        let actual = event.kw[slot].unwrap_or(0.0);
        result.baseline_kw.push(baseline);
        result.actual_kw.push(actual);
        result.baseline_kwh += baseline * hours;
        result.actual_kwh += actual * hours;
        result.verified_kwh += (baseline - actual).max(0.0) * hours;
    }
    result.outcome = Outcome::Verified;
    result
}

/// kWh as stored: to the watt-hour, half away from zero.
pub fn kwh(value: f64) -> Decimal {
    Decimal::from_f64(value).unwrap_or_default().round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero)
}

/// The reward for `verified_kwh` (as stored, 3 places) at `price` yuan per
/// kWh, to the fen, half away from zero.
pub fn reward(verified_kwh: Decimal, price: Decimal) -> Decimal {
    crate::billing::calc::money(verified_kwh * price)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }
    /// A 30-minute day at `base` kW, with the adjustment hours (11:00–13:00,
    /// slots 22–25) at `adj` and the window (14:00–15:00, slots 28–29) at `win`.
    fn day(day: &str, base: f64, adj: f64, win: [f64; 2]) -> DayLoad {
        let mut kw = vec![Some(base); 48];
        for s in &mut kw[22..26] {
            *s = Some(adj);
        }
        kw[28] = Some(win[0]);
        kw[29] = Some(win[1]);
        DayLoad { day: d(day), minutes: 30, kw }
    }
    const WINDOW: Window =
        Window { start: NaiveTime::from_hms_opt(14, 0, 0).unwrap(), end: NaiveTime::from_hms_opt(15, 0, 0).unwrap() };
    /// Five similar days, most recent first, with window energies 100, 120,
    /// 80, 110 and 90 kWh (flat over the hour) and the same adjustment load.
    fn history() -> Vec<DayLoad> {
        vec![
            day("2026-11-20", 50.0, 100.0, [100.0, 100.0]),
            day("2026-11-19", 50.0, 120.0, [120.0, 120.0]),
            day("2026-11-18", 50.0, 80.0, [80.0, 80.0]),
            day("2026-11-17", 50.0, 110.0, [110.0, 110.0]),
            day("2026-11-16", 50.0, 90.0, [90.0, 90.0]),
        ]
    }

    #[test]
    fn high_four_of_five_with_a_same_day_adjustment_and_the_verified_reduction() {
        // The highest 4 of 100, 120, 80, 110, 90 leave out the 18th (80):
        // baseline (120 + 110 + 100 + 90) / 4 = 105 kW, in the adjustment hours too.
        // The event day drew 115.5 kW then: factor 115.5 / 105 = 1.1, adjusted baseline 115.5 kW.
        // Window: 60 kW then 130 kW. Reduction (115.5 − 60) × 0.5 h = 27.75 kWh, and
        // nothing for the second half hour (130 is above the baseline; it cancels nothing).
        let event = day("2026-11-23", 50.0, 115.5, [60.0, 130.0]);
        let s = settle(&event, &history(), WINDOW);
        assert_eq!(s.outcome, Outcome::Verified);
        assert_eq!(s.baseline_days, [d("2026-11-20"), d("2026-11-19"), d("2026-11-17"), d("2026-11-16")]);
        assert_eq!(s.similar_days.len(), 5);
        assert!((s.adjustment - 1.1).abs() < 1e-12, "{}", s.adjustment);
        assert!((s.baseline_kw[0] - 115.5).abs() < 1e-9 && (s.baseline_kw[1] - 115.5).abs() < 1e-9);
        assert_eq!(kwh(s.baseline_kwh), dec!(115.500));
        assert_eq!(kwh(s.actual_kwh), dec!(95.000));
        assert_eq!(kwh(s.verified_kwh), dec!(27.750));
        // 27.750 kWh × 1.2345 yuan = 34.257375 → 34.26.
        assert_eq!(reward(kwh(s.verified_kwh), dec!(1.2345)), dec!(34.26));
    }

    #[test]
    fn the_adjustment_is_capped_at_twenty_percent_either_way() {
        // 150 / 105 = 1.43 → 1.2: baseline 126 kW; 126 − 100 = 26 kW for 1 h = 26 kWh.
        let high = settle(&day("2026-11-23", 50.0, 150.0, [100.0, 100.0]), &history(), WINDOW);
        assert!((high.adjustment - 1.2).abs() < 1e-12);
        assert_eq!(kwh(high.verified_kwh), dec!(26.000));
        // 50 / 105 = 0.48 → 0.8: baseline 84 kW; 84 − 70 = 14 kW for 1 h = 14 kWh.
        let low = settle(&day("2026-11-23", 50.0, 50.0, [70.0, 70.0]), &history(), WINDOW);
        assert!((low.adjustment - 0.8).abs() < 1e-12);
        assert_eq!(kwh(low.verified_kwh), dec!(14.000));
        assert_eq!(adjustment(10.0, 0.0), 1.0);
        assert_eq!(adjustment(99.0, 100.0), 0.99);
    }

    #[test]
    fn a_window_too_early_for_the_adjustment_hours_is_not_adjusted() {
        // 02:00–03:00: the adjustment hours would start before midnight.
        let early = Window { start: t(2, 0), end: t(3, 0) };
        let hist: Vec<DayLoad> = history()
            .into_iter()
            .map(|mut h| {
                h.kw[4] = Some(40.0);
                h.kw[5] = Some(40.0);
                h
            })
            .collect();
        let mut event = day("2026-11-23", 300.0, 300.0, [0.0, 0.0]);
        event.kw[4] = Some(30.0);
        event.kw[5] = Some(30.0);
        let s = settle(&event, &hist, early);
        assert_eq!(s.adjustment, 1.0);
        // 40 − 30 = 10 kW for an hour.
        assert_eq!(kwh(s.verified_kwh), dec!(10.000));
    }

    #[test]
    fn days_with_a_gap_are_passed_over_and_fewer_than_five_give_no_baseline() {
        let mut hist = history();
        hist[1].kw[29] = None; // the 19th lacks a window reading
        hist.push(day("2026-11-13", 50.0, 100.0, [100.0, 100.0]));
        let event = day("2026-11-23", 50.0, 105.0, [100.0, 100.0]);
        let s = settle(&event, &hist, WINDOW);
        assert_eq!(s.outcome, Outcome::Verified);
        assert!(!s.similar_days.contains(&d("2026-11-19")));
        assert!(s.similar_days.contains(&d("2026-11-13")));
        // Window energies 100 (20th), 80, 110, 90, 100 (13th): the 18th's 80 is out; (100 + 110 + 90 + 100) / 4 = 100.
        // Adjustment 105 / 100 = 1.05: baseline 105, actual 100: 5 kW for 1 h.
        assert_eq!(kwh(s.verified_kwh), dec!(5.000));

        let mut short = history();
        short[0].kw[22] = None; // a gap in the adjustment hours counts too
        let s = settle(&event, &short, WINDOW);
        assert_eq!(s.outcome, Outcome::NoBaseline);
        assert_eq!(s.verified_kwh, 0.0);
        assert_eq!(s.similar_days.len(), 4);

        let mut gap = event.clone();
        gap.kw[28] = None;
        assert_eq!(settle(&gap, &history(), WINDOW).outcome, Outcome::MissingData);
    }

    #[test]
    fn a_tie_keeps_the_more_recent_day() {
        // Every day drew 100 kWh in the window: all tie, and the oldest (the 16th) is the one left out.
        let hist: Vec<DayLoad> =
            history().into_iter().map(|h| day(&h.day.to_string(), 50.0, 100.0, [100.0, 100.0])).collect();
        let s = settle(&day("2026-11-23", 50.0, 100.0, [100.0, 100.0]), &hist, WINDOW);
        assert_eq!(s.baseline_days.last(), Some(&d("2026-11-17")));
        assert_eq!(s.verified_kwh, 0.0);
    }

    #[test]
    fn similar_days_follow_the_calendar_and_skip_earlier_events() {
        let cal = Calendar {
            weekend: vec![6, 7],
            holidays: vec![d("2026-10-01"), d("2026-10-02")],
            working: vec![d("2026-10-10")],
        };
        // Monday 12 October: the working days before it, most recent first.
        let days = candidate_days(d("2026-10-12"), &cal, &[d("2026-10-08")]);
        // Saturday 10th is a make-up working day; 8th was an event day; 1st and 2nd are holidays.
        assert_eq!(&days[..5], &[d("2026-10-10"), d("2026-10-09"), d("2026-10-07"), d("2026-10-06"), d("2026-10-05")]);
        assert!(!days.contains(&d("2026-10-01")) && !days.contains(&d("2026-10-03")));
        // Sunday 11th: non-working days, holidays included.
        let off = candidate_days(d("2026-10-11"), &cal, &[]);
        assert_eq!(&off[..4], &[d("2026-10-04"), d("2026-10-03"), d("2026-10-02"), d("2026-10-01")]);
        assert_eq!(days.iter().chain(&off).filter(|x| **x >= d("2026-10-12")).count(), 0);
        assert!(days.iter().all(|x| *x >= d("2026-10-12") - Duration::days(LOOKBACK_DAYS)));
    }

    #[test]
    fn meters_are_summed_at_the_coarser_interval() {
        let mut quarter = vec![Some(10.0); 96];
        quarter[1] = Some(20.0);
        quarter[3] = None;
        let a = DayLoad { day: d("2026-11-23"), minutes: 15, kw: quarter };
        let b = DayLoad { day: d("2026-11-23"), minutes: 30, kw: vec![Some(1.0); 48] };
        let sum = combine(&[a.clone(), b]).unwrap();
        assert_eq!(sum.minutes, 30);
        assert_eq!(sum.kw.len(), 48);
        // (10 + 20) / 2 + 1 = 16; the second half hour lacks a quarter.
        assert_eq!(sum.kw[0], Some(16.0));
        assert_eq!(sum.kw[1], None);
        assert_eq!(sum.kw[2], Some(11.0));
        assert_eq!(a.at(30).at(15).kw[0..2], [Some(15.0), Some(15.0)]);
        assert_eq!(combine(&[]), None);
    }
}
