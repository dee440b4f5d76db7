//! Day-ahead forecasts from whole local days of history (`load_days`), as
//! the refresh job makes them for every meter, customer and aggregate: the
//! methods, the tenant's calendar, the temperature regression, and the pick
//! of a method per series by backtest on the most recent held-out days.
//!
//! ## Methods
//! - `seasonal_naive_week` (the baseline, always computed): the same slots
//!   seven days earlier (fourteen where those are missing). It knows nothing
//!   of holidays, as a baseline should not.
//! - `similar_days`: slot by slot, the mean of the last [`SIMILAR_DAYS`] days
//!   that behave like the target day under the calendar (below), within
//!   eight weeks.
//! - `double_seasonal_holt_winters`: Taylor's double seasonal smoothing (the
//!   model of [`super::holt_winters`]: level, daily and weekly indices, AR(1)
//!   on the one-step error), fitted for day-ahead use: the objective is the
//!   squared error of the forecasts of the next day from each local
//!   midnight of the training window (the forecasts the refresh makes)
//!   rather than from every step, which makes a fit about 50 times cheaper
//!   (see BENCHMARKS.md). The parameters are fitted once per series and
//!   refresh, on the history before the held-out days, and used for every
//!   held-out day and for the forecast itself (they change slowly; the fit
//!   never sees a held-out day).
//! - `similar_days_temperature`, when the tenant supplies temperatures for
//!   the history and the target day: `similar_days` plus a regression of
//!   its residuals on temperature. The regressors are the differences
//!   between the day's and its similar days' mean cooling degrees
//!   (max(T − 22 °C, 0)) and heating degrees (max(14 °C − T, 0)) slot by
//!   slot, fitted by least squares over the [`TEMPERATURE_FIT_DAYS`] days
//!   before the origin. So the seasonal model carries the daily and weekly
//!   shape, and the regression only what the temperature moves on top of it.
//!
//! ## Calendar
//! A holiday (`calendar_days` kind `holiday`) behaves like the tenant's last
//! weekend day (Sunday with the default weekend), and a make-up working day
//! (kind `working`, 调休) like a mid-week working day (Wednesday unless the
//! tenant's weekend includes it). `similar_days` picks days by that
//! behaviour; Holt–Winters forecasts such a day with the weekly index of the
//! weekday it behaves like, and learns nothing from past exception days (it
//! treats them as missing), so a May Day holiday does not teach it that
//! Wednesdays are quiet.
//!
//! ## Choice
//! Every method forecasts each of the last [`HOLDOUT_DAYS`] days of the
//! history from the days before it; the lowest MAPE wins (the simpler one
//! on a tie, in the order above). A method that cannot forecast every
//! held-out day (too little history, no temperature) is left out. When the
//! baseline wins, the forecast is the baseline's and `beats_baseline` is
//! false, which the page states. Except on a holiday or make-up day: the
//! baseline knows no calendar, so the best method that does forecasts it
//! (its MAPE is still stated beside the baseline's).

use std::collections::HashSet;

use chrono::{Datelike, Duration, NaiveDate};

use super::nelder_mead::{self, Limits};

/// Days at the end of the history forecast in the backtest (two weeks).
pub const HOLDOUT_DAYS: usize = 14;
pub const SIMILAR_DAYS: usize = 4;
/// Days before an origin the temperature regression is fitted on.
pub const TEMPERATURE_FIT_DAYS: usize = 28;
/// The weeks of history Holt–Winters runs over (and is fitted on).
pub const TRAINING_WEEKS: usize = 8;
const INITIAL_WEEKS: usize = 2;
/// The least history Holt–Winters forecasts from.
pub const HW_MIN_DAYS: usize = 7 * (INITIAL_WEEKS + 1);

pub const BASELINE: &str = "seasonal_naive_week";
pub const SIMILAR: &str = "similar_days";
pub const HOLT_WINTERS: &str = "double_seasonal_holt_winters";
pub const TEMPERATURE: &str = "similar_days_temperature";
/// Every method name, in order of simplicity (ties go to the first).
pub const METHODS: [&str; 4] = [BASELINE, SIMILAR, HOLT_WINTERS, TEMPERATURE];

/// The tenant's working calendar as the forecasts read it.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    /// ISO weekday numbers (6 Saturday, 7 Sunday).
    pub weekend: Vec<u32>,
    pub holidays: HashSet<NaiveDate>,
    /// Make-up working days.
    pub working: HashSet<NaiveDate>,
}

impl Calendar {
    pub fn new(weekend: &[i16], holidays: HashSet<NaiveDate>, working: HashSet<NaiveDate>) -> Self {
        Calendar { weekend: weekend.iter().map(|d| *d as u32).collect(), holidays, working }
    }

    /// The ISO weekday whose load the day is forecast like.
    pub fn behaves_like(&self, day: NaiveDate) -> u32 {
        if self.holidays.contains(&day) {
            self.weekend.iter().copied().max().unwrap_or(7)
        } else if self.working.contains(&day) {
            [3, 2, 4, 1, 5, 6, 7].into_iter().find(|d| !self.weekend.contains(d)).unwrap_or(3)
        } else {
            day.weekday().number_from_monday()
        }
    }

    /// A day that does not behave like its weekday.
    pub fn is_exception(&self, day: NaiveDate) -> bool {
        self.behaves_like(day) != day.weekday().number_from_monday()
    }
}

/// Whole local days of one series: `values[d * steps_per_day + s]` is slot
/// `s` of day `first_day + d` (NaN where missing). `temperature`, when given,
/// covers the same days and the target day after them (NaN where unknown).
#[derive(Clone, Debug)]
pub struct Days {
    pub first_day: NaiveDate,
    pub steps_per_day: usize,
    pub values: Vec<f64>,
    pub temperature: Option<Vec<f64>>,
}

impl Days {
    pub fn len(&self) -> usize {
        self.values.len() / self.steps_per_day
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn day(&self, d: usize) -> &[f64] {
        &self.values[d * self.steps_per_day..(d + 1) * self.steps_per_day]
    }
}

/// The forecast of the day after the history, and how it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct DayAhead {
    pub points: Vec<f64>,
    pub method: &'static str,
    pub mape: Option<f64>,
    pub baseline_mape: Option<f64>,
    pub beats_baseline: bool,
    pub holdout_days: usize,
    pub temperature: bool,
    /// Every method scored, in [`METHODS`] order.
    pub scores: Vec<(&'static str, f64)>,
}

/// The smoothing weights of the double seasonal model, each in (0, 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    pub level: f64,
    pub daily: f64,
    pub weekly: f64,
    pub error_persistence: f64,
}

const START: Weights = Weights { level: 0.1, daily: 0.2, weekly: 0.2, error_persistence: 0.8 };

impl Weights {
    fn from_unbounded(x: &[f64]) -> Weights {
        let squash = |v: f64| 1.0 / (1.0 + (-v).exp());
        Weights { level: squash(x[0]), daily: squash(x[1]), weekly: squash(x[2]), error_persistence: squash(x[3]) }
    }

    fn to_unbounded(self) -> Vec<f64> {
        let logit = |p: f64| (p / (1.0 - p)).ln();
        [self.level, self.daily, self.weekly, self.error_persistence].into_iter().map(logit).collect()
    }
}

/// One series prepared for forecasting: the days, which behave like which
/// weekday, and which are exceptions.
struct Context<'a> {
    days: &'a Days,
    /// Per day index (including the target day after the history).
    behaves: Vec<u32>,
    weekday: Vec<u32>,
}

impl<'a> Context<'a> {
    fn new(days: &'a Days, calendar: &Calendar) -> Self {
        let dates = (0..=days.len()).map(|d| days.first_day + Duration::days(d as i64));
        let (behaves, weekday) =
            dates.map(|date| (calendar.behaves_like(date), date.weekday().number_from_monday())).unzip();
        Context { days, behaves, weekday }
    }

    fn spd(&self) -> usize {
        self.days.steps_per_day
    }

    fn exception(&self, d: usize) -> bool {
        self.behaves[d] != self.weekday[d]
    }

    /// Day `d` from the days before it (`d` may be the day after the history).
    fn forecast(&self, method: &str, d: usize, weights: Option<&Weights>) -> Option<Vec<f64>> {
        match method {
            BASELINE => self.seasonal_naive_week(d),
            SIMILAR => self.similar_days(d).map(|(f, _)| f),
            HOLT_WINTERS => self.holt_winters(d, weights?),
            TEMPERATURE => self.similar_days_temperature(d),
            _ => None,
        }
    }

    fn seasonal_naive_week(&self, d: usize) -> Option<Vec<f64>> {
        let spd = self.spd();
        let earlier: Vec<&[f64]> = [7, 14].iter().filter(|&&k| d >= k).map(|k| self.days.day(d - k)).collect();
        let first = earlier.first()?;
        let known: Vec<f64> = first.iter().copied().filter(|v| !v.is_nan()).collect();
        if known.is_empty() {
            return None;
        }
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        Some((0..spd).map(|s| earlier.iter().map(|day| day[s]).find(|v| !v.is_nan()).unwrap_or(mean)).collect())
    }

    /// The similar days' mean, and the days used.
    fn similar_days(&self, d: usize) -> Option<(Vec<f64>, Vec<usize>)> {
        let spd = self.spd();
        let like = self.behaves[d];
        let used: Vec<usize> = (d.saturating_sub(56)..d)
            .rev()
            .filter(|&p| self.behaves[p] == like && self.days.day(p).iter().any(|v| !v.is_nan()))
            .take(SIMILAR_DAYS)
            .collect();
        if used.is_empty() {
            return None;
        }
        let mut forecast = Vec::with_capacity(spd);
        for s in 0..spd {
            let known: Vec<f64> = used.iter().map(|&p| self.days.values[p * spd + s]).filter(|v| !v.is_nan()).collect();
            forecast.push(if known.is_empty() { f64::NAN } else { known.iter().sum::<f64>() / known.len() as f64 });
        }
        // A slot no similar day has: the mean of the others.
        let known: Vec<f64> = forecast.iter().copied().filter(|v| !v.is_nan()).collect();
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        forecast.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = mean);
        Some((forecast, used))
    }

    fn temperature_at(&self, d: usize) -> Option<&[f64]> {
        let t = self.days.temperature.as_ref()?;
        let spd = self.spd();
        t.get(d * spd..(d + 1) * spd).filter(|day| day.iter().all(|v| !v.is_nan()))
    }

    /// The temperature regressors of day `d` against its similar days:
    /// (cooling, heating) degree differences per slot.
    fn temperature_regressors(&self, d: usize, used: &[usize]) -> Option<Vec<(f64, f64)>> {
        let target = self.temperature_at(d)?;
        let similar: Vec<&[f64]> = used.iter().map(|&p| self.temperature_at(p)).collect::<Option<_>>()?;
        let n = similar.len() as f64;
        Some(
            (0..self.spd())
                .map(|s| {
                    let mean_cool = similar.iter().map(|t| cooling(t[s])).sum::<f64>() / n;
                    let mean_heat = similar.iter().map(|t| heating(t[s])).sum::<f64>() / n;
                    (cooling(target[s]) - mean_cool, heating(target[s]) - mean_heat)
                })
                .collect(),
        )
    }

    fn similar_days_temperature(&self, d: usize) -> Option<Vec<f64>> {
        let (base, used) = self.similar_days(d)?;
        let x = self.temperature_regressors(d, &used)?;
        // Least squares of the residuals on the two regressors over the days before d.
        let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut fitted_days = 0;
        for p in d.saturating_sub(TEMPERATURE_FIT_DAYS)..d {
            if self.exception(p) {
                continue;
            }
            let Some((f, u)) = self.similar_days(p) else { continue };
            let Some(xp) = self.temperature_regressors(p, &u) else { continue };
            fitted_days += 1;
            for (s, (c, h)) in xp.into_iter().enumerate() {
                let y = self.days.values[p * self.spd() + s];
                if y.is_nan() {
                    continue;
                }
                let r = y - f[s];
                a11 += c * c;
                a12 += c * h;
                a22 += h * h;
                b1 += c * r;
                b2 += h * r;
            }
        }
        if fitted_days < 7 {
            return None;
        }
        // A small ridge keeps a regressor that never varies (no cold days) at 0.
        let ridge = 1e-6 * (a11 + a22).max(1.0);
        let (a11, a22) = (a11 + ridge, a22 + ridge);
        let det = a11 * a22 - a12 * a12;
        let beta_cool = (b1 * a22 - b2 * a12) / det;
        let beta_heat = (a11 * b2 - a12 * b1) / det;
        Some(base.iter().zip(x).map(|(f, (c, h))| f + beta_cool * c + beta_heat * h).collect())
    }

    /// The training window of a forecast of day `d`: the last whole weeks
    /// before it, at most `TRAINING_WEEKS`; `None` under `HW_MIN_DAYS`.
    fn window(&self, d: usize) -> Option<std::ops::Range<usize>> {
        let weeks = (d / 7).min(TRAINING_WEEKS);
        (weeks * 7 >= HW_MIN_DAYS).then(|| d - weeks * 7..d)
    }

    fn holt_winters(&self, d: usize, w: &Weights) -> Option<Vec<f64>> {
        let window = self.window(d)?;
        let mut state = HwState::initial(self, window.clone());
        for p in window {
            state.take_day(self, p, w);
        }
        Some(state.forecast_day(self, d, w))
    }

    /// Fits the weights on the window before day `d`, scoring the forecast
    /// of each day after the initial weeks from its midnight.
    fn fit_holt_winters(&self, d: usize) -> Option<Weights> {
        let window = self.window(d)?;
        let objective = |x: &[f64]| {
            let w = Weights::from_unbounded(x);
            let mut state = HwState::initial(self, window.clone());
            let scored_from = window.start + INITIAL_WEEKS * 7;
            let (mut sum, mut count) = (0.0, 0usize);
            for p in window.clone() {
                if p >= scored_from && !self.exception(p) {
                    let forecast = state.forecast_day(self, p, &w);
                    for (f, y) in forecast.iter().zip(self.days.day(p)) {
                        if !y.is_nan() {
                            sum += (y - f) * (y - f);
                            count += 1;
                        }
                    }
                }
                state.take_day(self, p, &w);
            }
            if count == 0 { f64::INFINITY } else { sum / count as f64 }
        };
        let limits = Limits { max_iterations: 120, tolerance: 1e-5, initial_step: 1.0 };
        let (best, _) = nelder_mead::minimize(objective, &START.to_unbounded(), limits);
        Some(Weights::from_unbounded(&best))
    }
}

fn cooling(t: f64) -> f64 {
    (t - 22.0).max(0.0)
}

fn heating(t: f64) -> f64 {
    (14.0 - t).max(0.0)
}

/// The double seasonal state over a window of whole days. The weekly ring
/// is indexed by the day's weekday (so a day can be forecast with another
/// weekday's indices), the daily ring by the slot.
#[derive(Clone)]
struct HwState {
    level: f64,
    daily: Vec<f64>,
    /// 7 × steps per day; weekday 1 (Monday) first.
    weekly: Vec<f64>,
    last_error: f64,
}

impl HwState {
    /// Level and indices from the averages of the window's first weeks,
    /// leaving out missing readings and exception days.
    fn initial(ctx: &Context, window: std::ops::Range<usize>) -> HwState {
        let spd = ctx.spd();
        let first = window.start..window.start + INITIAL_WEEKS * 7;
        let usable = |p: usize| !ctx.exception(p);
        let (mut sum, mut n) = (0.0, 0usize);
        let (mut slot_sum, mut slot_n) = (vec![0.0; spd], vec![0usize; spd]);
        for p in first.clone().filter(|&p| usable(p)) {
            for (s, v) in ctx.days.day(p).iter().enumerate().filter(|(_, v)| !v.is_nan()) {
                sum += v;
                n += 1;
                slot_sum[s] += v;
                slot_n[s] += 1;
            }
        }
        let level = if n == 0 { 0.0 } else { sum / n as f64 };
        let daily: Vec<f64> =
            (0..spd).map(|s| if slot_n[s] == 0 { 0.0 } else { slot_sum[s] / slot_n[s] as f64 - level }).collect();
        let (mut week_sum, mut week_n) = (vec![0.0; 7 * spd], vec![0usize; 7 * spd]);
        for p in first.filter(|&p| usable(p)) {
            let base = (ctx.weekday[p] as usize - 1) * spd;
            for (s, v) in ctx.days.day(p).iter().enumerate().filter(|(_, v)| !v.is_nan()) {
                week_sum[base + s] += v - level - daily[s];
                week_n[base + s] += 1;
            }
        }
        let weekly = (0..7 * spd).map(|i| if week_n[i] == 0 { 0.0 } else { week_sum[i] / week_n[i] as f64 }).collect();
        HwState { level, daily, weekly, last_error: 0.0 }
    }

    /// Takes in day `p`; an exception day or a missing reading teaches nothing.
    fn take_day(&mut self, ctx: &Context, p: usize, w: &Weights) {
        let spd = ctx.spd();
        if ctx.exception(p) {
            self.last_error = 0.0;
            return;
        }
        let base = (ctx.weekday[p] as usize - 1) * spd;
        for (s, &y) in ctx.days.day(p).iter().enumerate() {
            let (daily, weekly) = (self.daily[s], self.weekly[base + s]);
            if y.is_nan() {
                self.last_error *= w.error_persistence;
                continue;
            }
            let error = y - (self.level + daily + weekly);
            let level = w.level * (y - daily - weekly) + (1.0 - w.level) * self.level;
            self.daily[s] = w.daily * (y - level - weekly) + (1.0 - w.daily) * daily;
            self.weekly[base + s] = w.weekly * (y - level - daily) + (1.0 - w.weekly) * weekly;
            self.level = level;
            self.last_error = error;
        }
    }

    /// Day `d`, with the weekly indices of the weekday it behaves like.
    fn forecast_day(&self, ctx: &Context, d: usize, w: &Weights) -> Vec<f64> {
        let base = (ctx.behaves[d] as usize - 1) * ctx.spd();
        let mut persistence = 1.0;
        (0..ctx.spd())
            .map(|s| {
                persistence *= w.error_persistence;
                self.level + self.daily[s] + self.weekly[base + s] + persistence * self.last_error
            })
            .collect()
    }
}

/// The mean absolute percentage error of `forecast` against `actual`, over
/// the slots with a non-zero actual; the sum and count, to pool days.
fn ape_sum(actual: &[f64], forecast: &[f64]) -> (f64, usize) {
    actual
        .iter()
        .zip(forecast)
        .filter(|(a, _)| !a.is_nan() && **a != 0.0)
        .fold((0.0, 0), |(sum, n), (a, f)| (sum + 100.0 * ((a - f) / a).abs(), n + 1))
}

/// Forecasts the day after `days`: backtests every method on the last
/// [`HOLDOUT_DAYS`] days (fewer when the history is short), picks the best,
/// and forecasts with it. `None` when no method can forecast the day.
pub fn forecast_next_day(days: &Days, calendar: &Calendar) -> Option<DayAhead> {
    let ctx = Context::new(days, calendar);
    let n = days.len();
    let holdout = HOLDOUT_DAYS.min(n.saturating_sub(7));
    let origins: Vec<usize> =
        (n - holdout..n).filter(|&d| days.day(d).iter().any(|v| !v.is_nan() && *v != 0.0)).collect();
    let weights = ctx.fit_holt_winters(n - holdout);
    let mut scores: Vec<(&'static str, f64)> = Vec::new();
    if !origins.is_empty() {
        'methods: for method in METHODS {
            let (mut sum, mut count) = (0.0, 0);
            for &d in &origins {
                let Some(forecast) = ctx.forecast(method, d, weights.as_ref()) else { continue 'methods };
                let (s, c) = ape_sum(days.day(d), &forecast);
                sum += s;
                count += c;
            }
            if count > 0 {
                scores.push((method, sum / count as f64));
            }
        }
    }
    let baseline_mape = scores.iter().find(|(m, _)| *m == BASELINE).map(|s| s.1);
    // The best scored method that can forecast the target day; unscored, the simplest that can.
    let mut ranked = scores.clone();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let candidates: Vec<(&'static str, Option<f64>)> = if ranked.is_empty() {
        [SIMILAR, BASELINE].into_iter().map(|m| (m, None)).collect()
    } else {
        ranked.iter().map(|(m, s)| (*m, Some(*s))).collect()
    };
    // The baseline knows no holidays: a holiday or make-up day is forecast
    // by the best method that follows the calendar (the baseline only when
    // none can forecast it).
    let calendar_day = ctx.exception(n);
    let (method, mape, points) = candidates
        .iter()
        .filter(|(m, _)| !(calendar_day && *m == BASELINE))
        .chain(candidates.iter().filter(|(m, _)| calendar_day && *m == BASELINE))
        .find_map(|&(m, s)| ctx.forecast(m, n, weights.as_ref()).map(|f| (m, s, f)))?;
    let beats_baseline = matches!((mape, baseline_mape), (Some(m), Some(b)) if method != BASELINE && m < b);
    Some(DayAhead {
        points: points.into_iter().map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 }).collect(),
        method,
        mape,
        baseline_mape,
        beats_baseline,
        holdout_days: origins.len(),
        temperature: method == TEMPERATURE,
        scores,
    })
}

/// The longest gap between two temperatures that is interpolated.
pub const MAX_TEMPERATURE_GAP_HOURS: i64 = 3;

/// Temperatures at each of `steps_per_day` slots of `days` days from
/// `first_day` (local time), interpolated linearly between the observations
/// (local times, in order) around each slot when at most
/// [`MAX_TEMPERATURE_GAP_HOURS`] apart; NaN elsewhere.
pub fn temperature_slots(
    observations: &[(chrono::NaiveDateTime, f64)],
    first_day: NaiveDate,
    days: usize,
    steps_per_day: usize,
) -> Vec<f64> {
    let step = Duration::minutes((1440 / steps_per_day) as i64);
    let start = first_day.and_time(chrono::NaiveTime::MIN);
    let mut next = 0;
    (0..days * steps_per_day)
        .map(|i| {
            let t = start + step * i as i32;
            while next < observations.len() && observations[next].0 < t {
                next += 1;
            }
            match (next.checked_sub(1).and_then(|p| observations.get(p)), observations.get(next)) {
                (_, Some(&(at, v))) if at == t => v,
                (Some(&(a, va)), Some(&(b, vb))) if b - a <= Duration::hours(MAX_TEMPERATURE_GAP_HOURS) => {
                    let share = (t - a).num_seconds() as f64 / (b - a).num_seconds() as f64;
                    va + (vb - va) * share
                }
                _ => f64::NAN,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    fn monday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 9, 7).unwrap()
    }

    /// Load with a daily shape, low weekends (and holidays), a wandering
    /// level and persistent noise; `temperature` adds 30 kW per degree over 22.
    fn synthetic(days: usize, spd: usize, seed: u64, calendar: &Calendar, temperature: Option<&[f64]>) -> Days {
        let mut random = StdRng::seed_from_u64(seed);
        let (mut level, mut noise) = (1000.0, 0.0);
        let mut values = Vec::with_capacity(days * spd);
        for d in 0..days {
            let date = monday() + Duration::days(d as i64);
            let weekend = calendar.behaves_like(date) >= 6;
            for s in 0..spd {
                let hour = 24.0 * s as f64 / spd as f64;
                let shape = 250.0 * (std::f64::consts::PI * (hour - 4.0) / 24.0).sin().powi(2);
                level += random.gen_range(-3.0..3.0);
                noise = 0.8 * noise + random.gen_range(-12.0..12.0);
                let weather = temperature.map_or(0.0, |t| 30.0 * cooling(t[d * spd + s]));
                values.push(level + if weekend { 0.4 * shape - 180.0 } else { shape } + noise + weather);
            }
        }
        Days { first_day: monday(), steps_per_day: spd, values, temperature: None }
    }

    #[test]
    fn the_calendar_maps_holidays_to_sunday_and_make_up_days_to_wednesday() {
        let holiday = monday() + Duration::days(2); // a Wednesday
        let make_up = monday() + Duration::days(5); // a Saturday
        let calendar = Calendar::new(&[6, 7], [holiday].into(), [make_up].into());
        assert_eq!(calendar.behaves_like(holiday), 7);
        assert_eq!(calendar.behaves_like(make_up), 3);
        assert_eq!(calendar.behaves_like(monday()), 1);
        assert!(calendar.is_exception(holiday) && calendar.is_exception(make_up) && !calendar.is_exception(monday()));
        // A Friday–Saturday weekend: a holiday is like a Saturday.
        assert_eq!(Calendar::new(&[5, 6], [holiday].into(), HashSet::new()).behaves_like(holiday), 6);
    }

    #[test]
    fn the_two_season_method_beats_the_weekly_baseline_on_known_structure() {
        let calendar = Calendar::new(&[6, 7], HashSet::new(), HashSet::new());
        let days = synthetic(70, 48, 11, &calendar, None);
        let result = forecast_next_day(&days, &calendar).unwrap();
        let score = |m: &str| result.scores.iter().find(|s| s.0 == m).unwrap().1;
        assert!(score(HOLT_WINTERS) < 0.8 * score(BASELINE), "{:?}", result.scores);
        assert!(result.beats_baseline);
        assert_ne!(result.method, BASELINE);
        assert_eq!(result.holdout_days, HOLDOUT_DAYS);
        assert_eq!(result.mape, Some(score(result.method)));
        assert_eq!(result.points.len(), 48);
    }

    #[test]
    fn a_holiday_is_forecast_like_a_sunday_and_a_make_up_day_like_a_weekday() {
        // 63 days of history; the day after is a Monday (holiday), and the
        // history holds a past holiday (a Tuesday) and a make-up Saturday.
        let past_holiday = monday() + Duration::days(50);
        let make_up = monday() + Duration::days(54);
        let target = monday() + Duration::days(63);
        let calendar = Calendar::new(&[6, 7], [past_holiday, target].into(), [make_up].into());
        let days = synthetic(63, 24, 5, &calendar, None);
        let result = forecast_next_day(&days, &calendar).unwrap();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let last_sunday = &days.values[62 * 24..63 * 24];
        let last_monday = &days.values[56 * 24..57 * 24];
        assert!(
            (mean(&result.points) - mean(last_sunday)).abs() < 60.0,
            "{} against a Sunday's {} and a Monday's {}",
            mean(&result.points),
            mean(last_sunday),
            mean(last_monday)
        );
        // The baseline (last Monday) misses the holiday; the choice does not.
        assert_ne!(result.method, BASELINE);
        // Without the calendar the day would be forecast as a working Monday.
        let plain = Calendar::new(&[6, 7], HashSet::new(), HashSet::new());
        let as_monday = forecast_next_day(&days, &plain).unwrap();
        assert!(mean(&as_monday.points) - mean(&result.points) > 150.0);

        // The make-up Saturday was a working day: a forecast made from the
        // Friday before it has a working day's level.
        let before = Days { values: days.values[..54 * 24].to_vec(), ..days.clone() };
        let saturday = forecast_next_day(&before, &calendar).unwrap();
        assert!(mean(&saturday.points) > mean(last_sunday) + 150.0, "{}", mean(&saturday.points));
    }

    #[test]
    fn the_temperature_regression_catches_what_the_weather_moves() {
        let (days_n, spd) = (63, 24);
        let mut random = StdRng::seed_from_u64(3);
        // Each day's own temperature, 18 to 34 °C, warmest mid-afternoon.
        let mut temperature = Vec::new();
        for _ in 0..=days_n {
            let peak = random.gen_range(20.0..34.0);
            for s in 0..spd {
                temperature.push(peak - 6.0 * (std::f64::consts::PI * (s as f64 - 15.0) / 24.0).sin().powi(2));
            }
        }
        let calendar = Calendar::new(&[6, 7], HashSet::new(), HashSet::new());
        let mut days = synthetic(days_n, spd, 9, &calendar, Some(&temperature));
        let without = forecast_next_day(&days, &calendar).unwrap();
        assert!(!without.scores.iter().any(|s| s.0 == TEMPERATURE), "no series, no temperature method");
        days.temperature = Some(temperature.clone());
        let with = forecast_next_day(&days, &calendar).unwrap();
        assert_eq!(with.method, TEMPERATURE, "{:?}", with.scores);
        assert!(with.temperature && with.beats_baseline);
        let score = |m: &str| with.scores.iter().find(|s| s.0 == m).unwrap().1;
        assert!(score(TEMPERATURE) < 0.7 * score(SIMILAR), "{:?}", with.scores);
        // Without the target day's temperature, it cannot be used for the forecast.
        temperature.truncate(days_n * spd);
        days.temperature = Some(temperature);
        let no_forecast_weather = forecast_next_day(&days, &calendar).unwrap();
        assert_ne!(no_forecast_weather.method, TEMPERATURE);
        assert!(!no_forecast_weather.temperature);
    }

    #[test]
    fn a_short_history_is_forecast_without_a_backtest_and_says_so() {
        let calendar = Calendar::default();
        let days = Days { first_day: monday(), steps_per_day: 4, values: vec![5.0; 7 * 4], temperature: None };
        let result = forecast_next_day(&days, &calendar).unwrap();
        assert_eq!((result.method, result.mape, result.beats_baseline), (SIMILAR, None, false));
        assert_eq!(result.points, vec![5.0; 4]);
        let empty = Days { values: vec![f64::NAN; 8], ..days };
        assert_eq!(forecast_next_day(&empty, &calendar), None);
    }

    #[test]
    fn missing_readings_are_skipped_not_learnt_as_zero() {
        let calendar = Calendar::new(&[6, 7], HashSet::new(), HashSet::new());
        let mut days = synthetic(56, 24, 2, &calendar, None);
        for v in &mut days.values[40 * 24..41 * 24] {
            *v = f64::NAN;
        }
        let result = forecast_next_day(&days, &calendar).unwrap();
        assert!(result.points.iter().all(|v| *v > 400.0), "{:?}", result.points);
    }

    #[test]
    fn mape_pools_the_slots_with_an_actual() {
        let (sum, n) = ape_sum(&[100.0, 0.0, f64::NAN, 50.0], &[110.0, 5.0, 1.0, 40.0]);
        assert_eq!((sum, n), (30.0, 2));
    }

    #[test]
    fn temperatures_are_interpolated_between_close_observations_only() {
        let at = |h: u32, m: u32| monday().and_hms_opt(h, m, 0).unwrap();
        let observations = [(at(0, 0), 10.0), (at(1, 0), 14.0), (at(6, 0), 20.0)];
        let slots = temperature_slots(&observations, monday(), 1, 96);
        assert_eq!((slots[0], slots[1], slots[4]), (10.0, 11.0, 14.0));
        assert!(slots[5].is_nan(), "01:00 to 06:00 is too long a gap");
        assert_eq!(slots[24], 20.0);
        assert!(slots[25].is_nan(), "nothing after the last");
    }

    #[test]
    fn a_holiday_is_not_left_to_the_baseline_even_when_it_wins_the_backtest() {
        // An exactly repeating week: the weekly baseline is perfect.
        let values: Vec<f64> =
            (0..56 * 4).map(|i| if (i / 4) % 7 >= 5 { 50.0 } else { 100.0 } + (i % 4) as f64).collect();
        let days = Days { first_day: monday(), steps_per_day: 4, values, temperature: None };
        let plain = Calendar::new(&[6, 7], HashSet::new(), HashSet::new());
        assert_eq!(forecast_next_day(&days, &plain).unwrap().method, BASELINE);
        let holiday = monday() + Duration::days(56);
        let calendar = Calendar::new(&[6, 7], [holiday].into(), HashSet::new());
        let result = forecast_next_day(&days, &calendar).unwrap();
        assert_ne!(result.method, BASELINE);
        assert_eq!(result.points, vec![50.0, 51.0, 52.0, 53.0]);
    }
}
