//! Double seasonal Holt–Winters exponential smoothing (Taylor 2003, "Short-term
//! electricity demand forecasting using double seasonal exponential
//! smoothing"): a level, a daily and a weekly seasonal index, and Taylor's
//! AR(1) adjustment on the one-step error, which half-hourly load needs
//! because its errors run in streaks.
//!
//! Two choices differ from the paper:
//! - additive seasonality, so the method also takes a customer's load that
//!   falls to zero or a net load below it (Taylor's multiplicative form would
//!   divide by those); within the training window the daily swing changes
//!   little with the level, which is what multiplicative form would model;
//! - no trend term: over a day ahead the level and the AR(1) term follow
//!   drift, and a trend would be a fifth weight to fit for little.
//!
//! The four smoothing parameters are fitted by Nelder–Mead on the squared
//! errors of in-sample forecasts over the whole horizon (not only one step
//! ahead, see `forecast_mse`), on a bounded recent window (`TRAINING_WEEKS`),
//! so each fit costs the same however long the history is.

use super::nelder_mead::{self, Limits};

/// The history a fit looks at: enough weeks to see each weekday several
/// times, recent enough to follow the season.
pub const TRAINING_WEEKS: usize = 8;
/// Weeks at the start of the window that set the first level and indices.
const INITIAL_WEEKS: usize = 2;
/// The least history: the initial weeks and one more to fit on.
pub const MIN_WEEKS: usize = INITIAL_WEEKS + 1;

/// Smoothing weights, each in (0, 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parameters {
    pub level: f64,
    pub daily: f64,
    pub weekly: f64,
    /// The AR(1) coefficient of the one-step error.
    pub error_persistence: f64,
}

impl Parameters {
    /// Optimised in the logit of each weight, so no step leaves (0, 1).
    fn from_unbounded(x: &[f64]) -> Parameters {
        let squash = |v: f64| 1.0 / (1.0 + (-v).exp());
        Parameters { level: squash(x[0]), daily: squash(x[1]), weekly: squash(x[2]), error_persistence: squash(x[3]) }
    }

    fn to_unbounded(self) -> Vec<f64> {
        let logit = |p: f64| (p / (1.0 - p)).ln();
        [self.level, self.daily, self.weekly, self.error_persistence].into_iter().map(logit).collect()
    }
}

/// Where the fit starts: modest smoothing and strongly persistent errors, as
/// half-hourly load has.
const START: Parameters = Parameters { level: 0.1, daily: 0.2, weekly: 0.2, error_persistence: 0.8 };

/// The model after the readings so far. Each seasonal index is kept in a ring
/// indexed by the step number modulo its period.
#[derive(Clone, Debug)]
struct State {
    level: f64,
    daily: Vec<f64>,
    weekly: Vec<f64>,
    /// The last one-step error before the AR(1) adjustment.
    last_error: f64,
    /// Readings taken in, counted from the window's start.
    steps: usize,
}

impl State {
    /// Level and indices from the averages of the first `INITIAL_WEEKS`.
    fn initial(window: &[f64], steps_per_day: usize) -> State {
        let week = 7 * steps_per_day;
        let first = &window[..INITIAL_WEEKS * week];
        let level = first.iter().sum::<f64>() / first.len() as f64;
        let mut daily = vec![0.0; steps_per_day];
        for (i, y) in first.iter().enumerate() {
            daily[i % steps_per_day] += (y - level) / (first.len() / steps_per_day) as f64;
        }
        let mut weekly = vec![0.0; week];
        for (i, y) in first.iter().enumerate() {
            weekly[i % week] += (y - level - daily[i % steps_per_day]) / INITIAL_WEEKS as f64;
        }
        State { level, daily, weekly, last_error: 0.0, steps: 0 }
    }

    fn seasonal(&self, step: usize) -> f64 {
        self.daily[step % self.daily.len()] + self.weekly[step % self.weekly.len()]
    }

    /// Takes in one reading.
    fn update(&mut self, y: f64, p: &Parameters) {
        let (d, w) = (self.steps % self.daily.len(), self.steps % self.weekly.len());
        let (daily, weekly) = (self.daily[d], self.weekly[w]);
        let error = y - (self.level + daily + weekly);
        self.level = p.level * (y - daily - weekly) + (1.0 - p.level) * self.level;
        self.daily[d] = p.daily * (y - self.level - weekly) + (1.0 - p.daily) * daily;
        self.weekly[w] = p.weekly * (y - self.level - daily) + (1.0 - p.weekly) * weekly;
        self.last_error = error;
        self.steps += 1;
    }

    /// The forecast `k + 1` steps ahead, given the AR(1) coefficient to the
    /// power `k + 1`.
    fn ahead(&self, k: usize, persistence: f64) -> f64 {
        self.level + self.seasonal(self.steps + k) + persistence * self.last_error
    }

    fn forecast(&self, horizon: usize, p: &Parameters) -> Vec<f64> {
        let mut persistence = 1.0;
        (0..horizon)
            .map(|k| {
                persistence *= p.error_persistence;
                self.ahead(k, persistence)
            })
            .collect()
    }
}

/// The training window: the last whole weeks, at most `TRAINING_WEEKS`.
fn training_window(history: &[f64], steps_per_day: usize) -> &[f64] {
    let week = 7 * steps_per_day;
    let weeks = (history.len() / week).min(TRAINING_WEEKS);
    &history[history.len() - weeks * week..]
}

/// Mean squared error, over the window after the initial weeks, of the
/// forecasts 1 to `horizon` steps ahead made from every step: the errors of
/// the forecasts the parameters are used for. (Fitted on one-step errors
/// alone, as Taylor does, half-hourly Victoria demand drove the seasonal
/// weights to 1 and the level's to 0.9: a good next half-hour, and a day
/// ahead worse than last week's values.)
fn forecast_mse(window: &[f64], steps_per_day: usize, p: &Parameters, horizon: usize) -> f64 {
    let mut state = State::initial(window, steps_per_day);
    let scored_from = INITIAL_WEEKS * 7 * steps_per_day;
    for &y in &window[..scored_from] {
        state.update(y, p);
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for origin in scored_from..window.len() {
        let mut persistence = 1.0;
        for (k, &actual) in window[origin..].iter().take(horizon).enumerate() {
            persistence *= p.error_persistence;
            let error = actual - state.ahead(k, persistence);
            sum += error * error;
        }
        count += horizon.min(window.len() - origin);
        state.update(window[origin], p);
    }
    sum / count as f64
}

/// Fits the parameters on the recent history for forecasts `horizon` steps
/// ahead. Panics with less than `MIN_WEEKS` of history.
pub fn fit(history: &[f64], steps_per_day: usize, horizon: usize) -> Parameters {
    let window = training_window(history, steps_per_day);
    assert!(window.len() >= MIN_WEEKS * 7 * steps_per_day, "double seasonal Holt-Winters needs {MIN_WEEKS} weeks");
    let limits = Limits { max_iterations: 200, tolerance: 1e-6, initial_step: 1.0 };
    let (best, _) = nelder_mead::minimize(
        |x| forecast_mse(window, steps_per_day, &Parameters::from_unbounded(x), horizon),
        &START.to_unbounded(),
        limits,
    );
    Parameters::from_unbounded(&best)
}

/// The next `horizon` values after `history`, with `parameters` run over the
/// training window.
pub fn forecast(history: &[f64], steps_per_day: usize, parameters: &Parameters, horizon: usize) -> Vec<f64> {
    let window = training_window(history, steps_per_day);
    let mut state = State::initial(window, steps_per_day);
    for &y in window {
        state.update(y, parameters);
    }
    state.forecast(horizon, parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four readings a day; weekends lower; a slow rise.
    fn weekly_pattern(days: usize) -> Vec<f64> {
        let day_shape = [10.0, 30.0, 40.0, 20.0];
        (0..days * 4).map(|i| 100.0 + day_shape[i % 4] - if (i / 4) % 7 >= 5 { 25.0 } else { 0.0 }).collect()
    }

    #[test]
    fn a_pure_double_seasonal_series_is_forecast_exactly() {
        let history = weekly_pattern(35);
        let parameters = fit(&history, 4, 8);
        let forecast = forecast(&history, 4, &parameters, 8);
        let truth = &weekly_pattern(37)[history.len()..];
        for (f, t) in forecast.iter().zip(truth) {
            assert!((f - t).abs() < 1e-6, "forecast {forecast:?} against {truth:?}");
        }
    }

    #[test]
    fn the_initial_indices_split_the_averages_into_day_and_week() {
        let state = State::initial(&weekly_pattern(14), 4);
        let level = (5.0 * 125.0 + 2.0 * 100.0) / 7.0;
        assert!((state.level - level).abs() < 1e-9);
        // Weekday slot 1 is 30 above 100; the weekly index holds the weekday lift.
        let weekday_slot_one = state.level + state.seasonal(1);
        assert!((weekday_slot_one - 130.0).abs() < 1e-9);
        let saturday_slot_one = state.level + state.seasonal(5 * 4 + 1);
        assert!((saturday_slot_one - 105.0).abs() < 1e-9);
    }

    #[test]
    fn the_error_adjustment_decays_with_the_horizon() {
        let mut state = State::initial(&weekly_pattern(14), 4);
        let p = Parameters { level: 0.0, daily: 0.0, weekly: 0.0, error_persistence: 0.5 };
        for &y in &weekly_pattern(14) {
            state.update(y, &p);
        }
        // A reading 8 above the pattern: the next forecasts carry 4, 2, 1 of it.
        let next = weekly_pattern(15)[14 * 4];
        state.update(next + 8.0, &p);
        let plain = &weekly_pattern(15)[14 * 4 + 1..14 * 4 + 4];
        let forecast = state.forecast(3, &p);
        let lifts: Vec<f64> = forecast.iter().zip(plain).map(|(f, y)| f - y).collect();
        for (lift, expected) in lifts.iter().zip([4.0, 2.0, 1.0]) {
            assert!((lift - expected).abs() < 1e-9, "{lifts:?}");
        }
    }
}
