//! The forecasting methods a backtest compares. Each sees only the history
//! before its forecast origin.

use super::holt_winters;

pub trait Forecaster {
    /// The name reports and `--json` use.
    fn name(&self) -> &'static str;
    /// The least history it can forecast from.
    fn min_history(&self) -> usize;
    /// The `horizon` values after the end of `history`.
    fn forecast(&mut self, history: &[f64], horizon: usize) -> Vec<f64>;
}

/// The value one period earlier (repeated for horizons past the period).
pub struct SeasonalNaive {
    name: &'static str,
    period: usize,
}

impl Forecaster for SeasonalNaive {
    fn name(&self) -> &'static str {
        self.name
    }

    fn min_history(&self) -> usize {
        self.period
    }

    fn forecast(&mut self, history: &[f64], horizon: usize) -> Vec<f64> {
        let last_period = &history[history.len() - self.period..];
        (0..horizon).map(|k| last_period[k % self.period]).collect()
    }
}

/// Daily and weekly seasonality by double seasonal Holt–Winters.
///
/// Not the `augurs` crates: augurs-ets has no seasonal ETS models yet, and
/// augurs-mstl's forecast repeats each seasonal component's last cycle (a
/// seasonal-naive forecast of the decomposition) with an ETS trend; it would
/// bring nalgebra and a LOESS decomposition for a method that does not adapt
/// its daily shape as the smoothing here does.
pub struct DoubleSeasonalHoltWinters {
    steps_per_day: usize,
    /// The parameters, and the history length they were fitted at.
    fitted: Option<(holt_winters::Parameters, usize)>,
}

impl DoubleSeasonalHoltWinters {
    pub fn new(steps_per_day: usize) -> Self {
        DoubleSeasonalHoltWinters { steps_per_day, fitted: None }
    }
}

impl Forecaster for DoubleSeasonalHoltWinters {
    fn name(&self) -> &'static str {
        "double_seasonal_holt_winters"
    }

    fn min_history(&self) -> usize {
        holt_winters::MIN_WEEKS * 7 * self.steps_per_day
    }

    /// Refits once a week of new history has come in: the parameters change
    /// slowly, and refitting at every daily origin would cost seven times as
    /// much for next to no accuracy. The fit only ever sees `history`.
    fn forecast(&mut self, history: &[f64], horizon: usize) -> Vec<f64> {
        let week = 7 * self.steps_per_day;
        let parameters = match self.fitted {
            Some((parameters, fitted_at)) if (fitted_at..fitted_at + week).contains(&history.len()) => parameters,
            _ => {
                let parameters = holt_winters::fit(history, self.steps_per_day, horizon);
                self.fitted = Some((parameters, history.len()));
                parameters
            }
        };
        holt_winters::forecast(history, self.steps_per_day, &parameters, horizon)
    }
}

/// The methods every backtest compares: weekly seasonal-naive (the baseline
/// every forecast is stated against), daily seasonal-naive, and the
/// two-season model.
pub fn standard_methods(steps_per_day: usize) -> Vec<Box<dyn Forecaster>> {
    vec![
        Box::new(SeasonalNaive { name: "seasonal_naive_week", period: 7 * steps_per_day }),
        Box::new(SeasonalNaive { name: "seasonal_naive_day", period: steps_per_day }),
        Box::new(DoubleSeasonalHoltWinters::new(steps_per_day)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonal_naive_repeats_the_last_period() {
        let mut day = SeasonalNaive { name: "day", period: 3 };
        assert_eq!(day.forecast(&[9.0, 1.0, 2.0, 3.0], 5), vec![1.0, 2.0, 3.0, 1.0, 2.0]);
    }

    #[test]
    fn holt_winters_refits_only_after_a_week_of_new_history() {
        let series: Vec<f64> = (0..30 * 4).map(|i| 50.0 + ((i % 4) * 10) as f64 + (i as f64 * 0.7).sin()).collect();
        let mut method = DoubleSeasonalHoltWinters::new(4);
        method.forecast(&series[..21 * 4], 4);
        let first = method.fitted.unwrap();
        method.forecast(&series[..27 * 4], 4);
        assert_eq!(method.fitted.unwrap(), first, "six days later the parameters are kept");
        method.forecast(&series[..28 * 4], 4);
        assert_eq!(method.fitted.unwrap().1, 28 * 4, "a week later they are fitted again");
        method.forecast(&series[..22 * 4], 4);
        assert_eq!(method.fitted.unwrap().1, 22 * 4, "a shorter history is fitted afresh");
    }
}
