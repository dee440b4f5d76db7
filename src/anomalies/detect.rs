//! Abrupt-change detection on a meter's daily energy (pure; no database).
//!
//! The method, step by step:
//!
//! 1. **Daily energy.** A stored day (`load_days`, 96 or 48 slots of kW) is
//!    worth `Σ kW × minutes / 60` kWh. A day with at most 10 % of its slots
//!    missing is scaled up by `slots / present`; a day with more missing, a
//!    day with no row, and a day the tenant's calendar marks as a holiday or
//!    a make-up working day is *missing*: it takes no part in what follows.
//! 2. **Weekly cycle removed.** Each observed day is divided by the local
//!    level around it (the median of the observed days within ±3 days); the
//!    median of these ratios per weekday is that weekday's factor (scaled to
//!    average 1). Each day's energy divided by its weekday's factor is its
//!    *deseasonalised* value. Medians keep the factors right across a level
//!    shift (only the few days beside it see a mixed window). A weekday whose
//!    factor is under 0.2 (a works closed on Sundays) says nothing about the
//!    level and is left out.
//! 3. **One change point, robustly.** For a split of the deseasonalised
//!    series into a before part (at least [`Params::min_before`] observed
//!    days) and an after part (at least [`Params::min_after`]), the levels are
//!    the two parts' medians and the noise σ is 1.4826 × the median absolute
//!    deviation of every day from its own part's median (pooled; floored at
//!    1 % of the level, so a flat synthetic series does not divide by zero).
//!    The change day is the first after day of the split with the least total
//!    absolute deviation from the parts' medians (an L1 change-point cost:
//!    every day put on the wrong side costs the full shift, so the day is
//!    found exactly, while an odd day costs the same on either side). The
//!    split is searched over every day, and then kept only when it leaves
//!    enough days on both sides. Its score is
//!    `|after − before| / (σ √(1/n₁ + 1/n₂))`, a robust two-sample statistic.
//! 4. **Only a sudden, lasting, large change is reported:** the score at
//!    least [`Params::min_score`], the relative size `after / before − 1` at
//!    least [`Params::min_relative`] either way, and the change still holding
//!    at the end: the median of the last `min_after` observed days differs
//!    from the before level in the same direction by at least 80 % of
//!    `min_relative`. One odd day (a holiday the calendar lacks, a metering
//!    glitch) moves no median; a dip that has recovered fails the last test.
//!
//! A before level of zero (a new connection) has no relative size and is not
//! reported. The scan (`db::scan`) runs this on every meter's last weeks of
//! `load_days`, starting after the last change it recorded for the meter, so
//! a change is reported once.

/// The knobs of [`detect`]; [`Params::default`] is what the scan uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Observed days before the change, at least (two of each weekday).
    pub min_before: usize,
    /// Observed days after the change, at least: a change is reported once
    /// it has lasted this long.
    pub min_after: usize,
    /// The smallest relative change reported (0.25: ±25 %).
    pub min_relative: f64,
    /// The smallest robust score reported.
    pub min_score: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { min_before: 14, min_after: 7, min_relative: 0.25, min_score: 5.0 }
    }
}

/// A lasting change in level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// The index (into the series given) of the first day at the new level.
    pub index: usize,
    /// The deseasonalised daily energy before and after (an average day's kWh).
    pub before: f64,
    pub after: f64,
    /// `after / before − 1`: −0.35 is a drop of 35 %.
    pub relative: f64,
    /// The robust score of the split (see the module comment).
    pub score: f64,
}

/// Share of a day's slots that may be missing before the day counts as missing.
pub const MAX_MISSING_SHARE: f64 = 0.10;

/// A day's energy in kWh from its slots of kW (`None` = missing reading), or
/// `None` when more than [`MAX_MISSING_SHARE`] of the slots are missing.
pub fn daily_energy(minutes: i16, kw: &[Option<f64>]) -> Option<f64> {
    let present: Vec<f64> = kw.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    daily_energy_from(minutes, present.iter().sum(), present.len(), kw.len())
}

/// [`daily_energy`] from a day's sum of present kW readings, how many are
/// present and how many slots the day has (as the database adds them up).
pub fn daily_energy_from(minutes: i16, sum_kw: f64, present: usize, slots: usize) -> Option<f64> {
    if slots == 0 || present == 0 || minutes <= 0 || !sum_kw.is_finite() {
        return None;
    }
    if slots.saturating_sub(present) as f64 > MAX_MISSING_SHARE * slots as f64 {
        return None;
    }
    Some(sum_kw * f64::from(minutes) / 60.0 * slots as f64 / present as f64)
}

fn median(values: &mut [f64]) -> f64 {
    debug_assert!(!values.is_empty());
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// Weekday factors (index = weekday, 0 = the weekday of `series[0]`'s
/// position `i` is `(first_weekday + i) % 7`), scaled to average 1.
fn weekday_factors(series: &[Option<f64>], first_weekday: usize) -> [Option<f64>; 7] {
    let mut ratios: [Vec<f64>; 7] = Default::default();
    for (i, x) in series.iter().enumerate() {
        let Some(x) = *x else { continue };
        let lo = i.saturating_sub(3);
        let hi = (i + 4).min(series.len());
        let mut window: Vec<f64> = series[lo..hi].iter().flatten().copied().collect();
        if window.len() < 4 {
            continue;
        }
        let level = median(&mut window);
        if level > 0.0 {
            ratios[(first_weekday + i) % 7].push(x / level);
        }
    }
    let mut factors = [None; 7];
    for (w, r) in ratios.iter_mut().enumerate() {
        if r.len() >= 2 {
            factors[w] = Some(median(r));
        }
    }
    let known: Vec<f64> = factors.iter().flatten().copied().collect();
    let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
    if mean > 0.0 {
        for f in factors.iter_mut().flatten() {
            *f /= mean;
        }
    }
    factors
}

/// The deseasonalised series: each observed day divided by its weekday's
/// factor; `None` where the day is missing or its weekday says nothing.
pub fn deseasonalise(series: &[Option<f64>], first_weekday: usize) -> Vec<Option<f64>> {
    let factors = weekday_factors(series, first_weekday);
    series
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = factors[(first_weekday + i) % 7].unwrap_or(1.0);
            x.filter(|_| f >= 0.2).map(|x| x / f)
        })
        .collect()
}

/// Finds a sudden lasting change of level in a daily energy series
/// (`series[i]` is day `i`, `None` when missing; `first_weekday` is the
/// weekday of day 0, Monday = 0). See the module comment for the method.
pub fn detect(series: &[Option<f64>], first_weekday: usize, p: &Params) -> Option<Change> {
    let values = deseasonalise(series, first_weekday);
    let observed: Vec<(usize, f64)> = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    let n = observed.len();
    if p.min_before == 0 || p.min_after == 0 || n < p.min_before + p.min_after {
        return None;
    }
    let ys: Vec<f64> = observed.iter().map(|o| o.1).collect();
    let mut scratch = Vec::with_capacity(n);
    let mut medians = |part: &[f64]| {
        scratch.clear();
        scratch.extend_from_slice(part);
        median(&mut scratch)
    };
    // Where: the split with the least total absolute deviation from the
    // parts' medians, over every split (a one-day part too, so that an odd
    // first or last day takes the split rather than distort it).
    let mut best: Option<(usize, f64)> = None;
    for k in 1..n {
        let (m1, m2) = (medians(&ys[..k]), medians(&ys[k..]));
        let cost: f64 =
            ys[..k].iter().map(|y| (y - m1).abs()).sum::<f64>() + ys[k..].iter().map(|y| (y - m2).abs()).sum::<f64>();
        if best.is_none_or(|b| cost < b.1) {
            best = Some((k, cost));
        }
    }
    let (k, _) = best?;
    if k < p.min_before || n - k < p.min_after {
        return None;
    }
    // How sure: the robust score of that split.
    let (before, after) = (medians(&ys[..k]), medians(&ys[k..]));
    let mut deviations: Vec<f64> =
        ys[..k].iter().map(|y| (y - before).abs()).chain(ys[k..].iter().map(|y| (y - after).abs())).collect();
    let sigma = (1.4826 * median(&mut deviations)).max(0.01 * before.abs().max(after.abs())).max(f64::MIN_POSITIVE);
    let score = (after - before).abs() / (sigma * (1.0 / k as f64 + 1.0 / (n - k) as f64).sqrt());
    if before <= 0.0 || score < p.min_score {
        return None;
    }
    let relative = after / before - 1.0;
    if relative.abs() < p.min_relative {
        return None;
    }
    let mut tail = ys[n - p.min_after..].to_vec();
    let tail_relative = median(&mut tail) / before - 1.0;
    if tail_relative.signum() != relative.signum() || tail_relative.abs() < 0.8 * p.min_relative {
        return None;
    }
    Some(Change { index: observed[k].0, before, after, relative, score })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    /// Weekday shape of a works on a five-day week (Monday first).
    const WEEK: [f64; 7] = [1.0, 1.02, 1.0, 0.98, 0.95, 0.62, 0.48];

    fn gauss(rng: &mut StdRng) -> f64 {
        // Box–Muller.
        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = rng.r#gen();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// `days` of daily energy around 24 MWh with the weekly shape and
    /// multiplicative noise of `noise` (standard deviation), starting on
    /// `first_weekday`, the level multiplied by `1 + shift` from `at` on.
    fn series(
        seed: u64,
        days: usize,
        first_weekday: usize,
        noise: f64,
        shift: Option<(usize, f64)>,
    ) -> Vec<Option<f64>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..days)
            .map(|i| {
                let level = match shift {
                    Some((at, s)) if i >= at => 24_000.0 * (1.0 + s),
                    _ => 24_000.0,
                };
                Some(level * WEEK[(first_weekday + i) % 7] * (1.0 + noise * gauss(&mut rng)).max(0.0))
            })
            .collect()
    }

    #[test]
    fn a_day_is_worth_its_slots_and_too_many_gaps_make_it_missing() {
        // 96 slots of 10 kW at 15 minutes: 240 kWh.
        let full = vec![Some(10.0); 96];
        assert_eq!(daily_energy(15, &full), Some(240.0));
        assert_eq!(daily_energy(30, &[Some(10.0); 48]), Some(240.0));
        // Nine missing slots (under 10 %) are filled at the day's average.
        let mut gappy = full.clone();
        for s in gappy.iter_mut().take(9) {
            *s = None;
        }
        assert!((daily_energy(15, &gappy).unwrap() - 240.0).abs() < 1e-9);
        // Ten missing (over 10 %): the day is missing.
        gappy[9] = None;
        gappy[10] = None;
        assert_eq!(daily_energy(15, &gappy), None);
        assert_eq!(daily_energy(15, &[]), None);
    }

    #[test]
    fn finds_an_injected_drop_of_35_percent_on_the_day() {
        for seed in 0..50 {
            let at = 30 + (seed as usize % 20);
            let s = series(seed, 63, (seed as usize) % 7, 0.06, Some((at, -0.35)));
            let c = detect(&s, (seed as usize) % 7, &Params::default()).unwrap_or_else(|| panic!("seed {seed}"));
            assert!(c.index.abs_diff(at) <= 1, "seed {seed}: found {} for {at}", c.index);
            assert!((c.relative + 0.35).abs() < 0.08, "seed {seed}: size {}", c.relative);
            assert!(c.before > c.after);
        }
    }

    #[test]
    fn finds_an_injected_rise_of_40_percent_on_the_day() {
        for seed in 100..150 {
            let at = 21 + (seed as usize % 30);
            let s = series(seed, 63, 3, 0.06, Some((at, 0.40)));
            let c = detect(&s, 3, &Params::default()).unwrap_or_else(|| panic!("seed {seed}"));
            assert!(c.index.abs_diff(at) <= 1, "seed {seed}: found {} for {at}", c.index);
            assert!((c.relative - 0.40).abs() < 0.10, "seed {seed}: size {}", c.relative);
        }
    }

    #[test]
    fn a_change_is_reported_once_it_has_lasted_a_week() {
        for days_after in 1..7 {
            let s = series(7, 63, 0, 0.06, Some((63 - days_after, -0.35)));
            assert_eq!(detect(&s, 0, &Params::default()), None, "{days_after} days after: not yet");
        }
        let s = series(7, 63, 0, 0.06, Some((56, -0.35)));
        assert_eq!(detect(&s, 0, &Params::default()).map(|c| c.index), Some(56));
    }

    #[test]
    fn stays_quiet_on_noise_with_a_weekly_cycle() {
        for seed in 1000..1200 {
            for noise in [0.05, 0.12] {
                let s = series(seed, 63, (seed as usize) % 7, noise, None);
                assert_eq!(detect(&s, (seed as usize) % 7, &Params::default()), None, "seed {seed}, noise {noise}");
            }
        }
    }

    #[test]
    fn stays_quiet_on_a_single_holiday_dip_and_a_dip_that_recovered() {
        for seed in 0..50 {
            let mut s = series(seed, 63, 0, 0.06, None);
            // A holiday on a Wednesday, mid-window, at a tenth of the load.
            s[30] = s[30].map(|x| x * 0.1);
            assert_eq!(detect(&s, 0, &Params::default()), None, "seed {seed}: holiday mid-window");
            // One at the very end (yesterday).
            let mut end = series(seed, 63, 0, 0.06, None);
            end[62] = Some(0.0);
            assert_eq!(detect(&end, 0, &Params::default()), None, "seed {seed}: holiday yesterday");
        }
        // Five days of outage, then back to normal for three weeks.
        let mut s = series(3, 63, 0, 0.06, None);
        for x in s.iter_mut().skip(35).take(5) {
            *x = x.map(|x| x * 0.3);
        }
        assert_eq!(detect(&s, 0, &Params::default()), None);
    }

    #[test]
    fn missing_days_and_rows_are_skipped_and_the_day_still_found() {
        for seed in 0..30 {
            let at = 40;
            let mut s = series(seed, 63, 2, 0.06, Some((at, -0.35)));
            let mut rng = StdRng::seed_from_u64(seed + 7);
            // A tenth of the days missing, the change day's neighbour among them.
            for _ in 0..6 {
                let i = rng.gen_range(0..63);
                s[i] = None;
            }
            s[at - 1] = None;
            let c = detect(&s, 2, &Params::default()).unwrap_or_else(|| panic!("seed {seed}"));
            assert!(c.index.abs_diff(at) <= 1, "seed {seed}: {} for {at}", c.index);
        }
        // Too few observed days: nothing to say.
        let mut sparse = series(1, 63, 0, 0.06, Some((40, -0.5)));
        for x in sparse.iter_mut().step_by(2) {
            *x = None;
        }
        for x in sparse.iter_mut().take(50) {
            *x = None;
        }
        assert_eq!(detect(&sparse, 0, &Params::default()), None);
    }

    #[test]
    fn a_works_closed_on_sundays_and_a_stop_to_zero() {
        // Sundays at nothing: the weekday is left out, the change still found.
        let mut s = series(5, 63, 0, 0.06, Some((45, 0.5)));
        for (i, x) in s.iter_mut().enumerate() {
            if i % 7 == 6 {
                *x = Some(0.0);
            }
        }
        let c = detect(&s, 0, &Params::default()).unwrap();
        assert!(c.index.abs_diff(45) <= 1 && c.relative > 0.4, "{c:?}");
        // Load falling to nothing (a bypassed meter) is a −100 % change.
        let s = series(6, 63, 0, 0.06, Some((40, -1.0)));
        let c = detect(&s, 0, &Params::default()).unwrap();
        assert_eq!(c.index, 40);
        assert!((c.relative + 1.0).abs() < 1e-9);
        // From nothing (a new connection) has no relative size.
        let mut s = series(6, 63, 0, 0.06, None);
        for x in s.iter_mut().take(30) {
            *x = Some(0.0);
        }
        assert_eq!(detect(&s, 0, &Params::default()), None);
    }

    #[test]
    fn a_small_change_is_not_reported() {
        for seed in 0..30 {
            let s = series(seed, 63, 0, 0.04, Some((35, -0.15)));
            assert_eq!(detect(&s, 0, &Params::default()), None, "seed {seed}");
        }
    }
}
