//! Rolling-origin evaluation: the forecast origin moves through the holdout
//! one day at a time; from each origin every method forecasts the next
//! `horizon` steps from the history before it, and is scored by the mean
//! absolute percentage error at each step ahead.

use std::collections::BTreeMap;

use serde::Serialize;

use super::methods::Forecaster;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub steps_per_day: usize,
    pub holdout_days: usize,
    /// Steps ahead forecast from each origin.
    pub horizon: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BacktestError {
    #[error("the holdout and the horizon must be at least 1")]
    NothingToForecast,
    #[error(
        "{holdout_days} holdout days leave {before} readings before the holdout; {method} needs at least {needed} ({needed_days} days)"
    )]
    TooLittleHistory { holdout_days: usize, before: usize, method: &'static str, needed: usize, needed_days: usize },
    #[error("a horizon of {horizon} steps runs past the end of the series from every origin in the holdout")]
    HorizonPastEnd { horizon: usize },
    #[error("every actual value in the holdout is 0: a percentage error of 0 is undefined")]
    AllActualsZero,
}

/// Indices of the forecast origins: one a day through the last `holdout_days`
/// days of the series, each the first step a forecast predicts, and only
/// those whose whole horizon has actual values.
pub fn origins(len: usize, plan: &Plan) -> Vec<usize> {
    let first = len.saturating_sub(plan.holdout_days * plan.steps_per_day);
    (0..plan.holdout_days)
        .map(|day| first + day * plan.steps_per_day)
        .filter(|origin| origin + plan.horizon <= len)
        .collect()
}

/// The absolute percentage error; none when the actual is zero, where it is
/// undefined.
fn absolute_percentage_error(actual: f64, forecast: f64) -> Option<f64> {
    (actual != 0.0).then(|| 100.0 * ((actual - forecast) / actual).abs())
}

/// One method's score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// The mean of `mape_by_step` (over the steps that have one).
    pub mape: f64,
    /// MAPE over the origins, by steps ahead (the first is one step ahead).
    pub mape_by_step: Vec<f64>,
}

/// MAPE by step of forecasts made at `origins` against `actual`. A step whose
/// actuals are all zero has none (NaN; null in JSON) and is left out of the
/// mean, so a load that is 0 at the same time every night still scores.
pub fn score(actual: &[f64], forecasts: &[(usize, Vec<f64>)], horizon: usize) -> Score {
    let mape_by_step: Vec<f64> = (0..horizon)
        .map(|step| {
            let errors: Vec<f64> = forecasts
                .iter()
                .filter_map(|(origin, forecast)| absolute_percentage_error(actual[origin + step], forecast[step]))
                .collect();
            errors.iter().sum::<f64>() / errors.len() as f64
        })
        .collect();
    let scored: Vec<f64> = mape_by_step.iter().copied().filter(|m| !m.is_nan()).collect();
    let mape = scored.iter().sum::<f64>() / scored.len() as f64;
    Score { mape, mape_by_step }
}

/// Each origin and the forecast a method makes there from the values before it.
pub fn rolling_forecasts(
    values: &[f64],
    origins: &[usize],
    method: &mut dyn Forecaster,
    horizon: usize,
) -> Vec<(usize, Vec<f64>)> {
    origins.iter().map(|&origin| (origin, method.forecast(&values[..origin], horizon))).collect()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backtest {
    pub methods: BTreeMap<&'static str, Score>,
    /// The method with the lowest mean MAPE.
    pub chosen: &'static str,
    #[serde(skip)]
    pub origins: Vec<usize>,
    /// Actual values of zero, left out of the MAPE.
    #[serde(skip)]
    pub zero_actuals: usize,
}

/// Scores every method over the holdout.
pub fn run(values: &[f64], plan: &Plan, methods: &mut [Box<dyn Forecaster>]) -> Result<Backtest, BacktestError> {
    if plan.holdout_days == 0 || plan.horizon == 0 {
        return Err(BacktestError::NothingToForecast);
    }
    let before = values.len().saturating_sub(plan.holdout_days * plan.steps_per_day);
    if let Some(method) = methods.iter().find(|m| m.min_history() > before) {
        return Err(BacktestError::TooLittleHistory {
            holdout_days: plan.holdout_days,
            before,
            method: method.name(),
            needed: method.min_history(),
            needed_days: method.min_history().div_ceil(plan.steps_per_day),
        });
    }
    let origins = origins(values.len(), plan);
    if origins.is_empty() {
        return Err(BacktestError::HorizonPastEnd { horizon: plan.horizon });
    }
    let mut scores = BTreeMap::new();
    for method in methods.iter_mut() {
        let forecasts = rolling_forecasts(values, &origins, method.as_mut(), plan.horizon);
        scores.insert(method.name(), score(values, &forecasts, plan.horizon));
    }
    // The same actuals score every method, so all have a MAPE or none has.
    if scores.values().any(|s: &Score| s.mape.is_nan()) {
        return Err(BacktestError::AllActualsZero);
    }
    // The first listed wins a tie: the simpler method, as methods are listed.
    let chosen = methods
        .iter()
        .map(|m| m.name())
        .reduce(|best, name| if scores[name].mape < scores[best].mape { name } else { best })
        .expect("at least one method");
    let zero_actuals = origins.iter().map(|&o| values[o..o + plan.horizon].iter().filter(|v| **v == 0.0).count()).sum();
    Ok(Backtest { methods: scores, chosen, origins, zero_actuals })
}

impl std::fmt::Display for Backtest {
    /// The mean MAPE of each method, best first, then MAPE by step ahead.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ranked: Vec<(&&str, &Score)> = self.methods.iter().collect();
        ranked.sort_by(|a, b| a.1.mape.total_cmp(&b.1.mape));
        let width = self.methods.keys().map(|n| n.len()).max().unwrap_or(0);
        writeln!(f, "{:width$}  mean MAPE", "method")?;
        for (name, score) in &ranked {
            let mark = if **name == self.chosen { "  (chosen)" } else { "" };
            writeln!(f, "{name:width$}  {:8.2} %{mark}", score.mape)?;
        }
        writeln!(f)?;
        writeln!(f, "MAPE (%) by step ahead:")?;
        write!(f, "{:>5}", "step")?;
        for (name, _) in &ranked {
            write!(f, "  {:>w$}", name, w = name.len().max(8))?;
        }
        writeln!(f)?;
        let steps = ranked.first().map_or(0, |(_, s)| s.mape_by_step.len());
        for step in 0..steps {
            write!(f, "{:>5}", step + 1)?;
            for (name, score) in &ranked {
                write!(f, "  {:>w$.2}", score.mape_by_step[step], w = name.len().max(8))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::methods::{DoubleSeasonalHoltWinters, standard_methods};

    /// Returns the last value it was shown, and remembers every history length.
    struct LastValue {
        seen: Vec<usize>,
    }

    impl Forecaster for LastValue {
        fn name(&self) -> &'static str {
            "last_value"
        }
        fn min_history(&self) -> usize {
            1
        }
        fn forecast(&mut self, history: &[f64], horizon: usize) -> Vec<f64> {
            self.seen.push(history.len());
            vec![*history.last().unwrap(); horizon]
        }
    }

    #[test]
    fn origins_step_a_day_through_the_holdout_while_the_horizon_fits() {
        let plan = Plan { steps_per_day: 4, holdout_days: 3, horizon: 4 };
        assert_eq!(origins(20, &plan), vec![8, 12, 16]);
        // Six steps ahead from the last origin would run past the end.
        assert_eq!(origins(20, &Plan { horizon: 6, ..plan }), vec![8, 12]);
    }

    #[test]
    fn mape_by_step_and_its_mean_by_hand() {
        let actual = [0.0, 100.0, 200.0, 50.0, 80.0];
        // Origin 1: errors 10 % and 25 %; origin 3: 20 % and 0 %.
        let forecasts = vec![(1, vec![110.0, 150.0]), (3, vec![40.0, 80.0])];
        let score = score(&actual, &forecasts, 2);
        assert_eq!(score.mape_by_step, vec![15.0, 12.5]);
        assert_eq!(score.mape, 13.75);
    }

    #[test]
    fn zero_actuals_are_left_out_of_the_mape() {
        let forecasts = vec![(0, vec![5.0]), (1, vec![90.0])];
        assert_eq!(score(&[0.0, 100.0], &forecasts, 1).mape_by_step, vec![10.0]);
        // The second step ahead is 0 from both origins: no MAPE, and left out of the mean.
        let forecasts = vec![(0, vec![110.0, 5.0]), (2, vec![80.0, 5.0])];
        let score = score(&[100.0, 0.0, 100.0, 0.0], &forecasts, 2);
        assert!(score.mape_by_step[1].is_nan());
        assert_eq!(score.mape, 15.0);
    }

    #[test]
    fn a_holdout_of_zeros_cannot_be_scored() {
        let plan = Plan { steps_per_day: 4, holdout_days: 2, horizon: 2 };
        let mut methods = standard_methods(4);
        methods.truncate(2);
        assert_eq!(run(&[0.0; 60], &plan, &mut methods), Err(BacktestError::AllActualsZero));
    }

    #[test]
    fn each_forecast_sees_only_the_values_before_its_origin() {
        let values: Vec<f64> = (0..20).map(f64::from).collect();
        let plan = Plan { steps_per_day: 4, holdout_days: 3, horizon: 2 };
        let mut spy = LastValue { seen: vec![] };
        let forecasts = rolling_forecasts(&values, &origins(values.len(), &plan), &mut spy, plan.horizon);
        assert_eq!(spy.seen, vec![8, 12, 16]);
        assert_eq!(forecasts[0], (8, vec![7.0, 7.0]));
    }

    #[test]
    fn changing_the_values_after_an_origin_leaves_its_forecast_alone() {
        let steps_per_day = 8;
        let series = synthetic_load(steps_per_day, 35, 3);
        let plan = Plan { steps_per_day, holdout_days: 7, horizon: steps_per_day };
        let origin = origins(series.len(), &plan)[0];
        let mut changed = series.clone();
        for v in &mut changed[origin..] {
            *v *= 3.0;
        }
        for (mut a, mut b) in standard_methods(steps_per_day).into_iter().zip(standard_methods(steps_per_day)) {
            let before = rolling_forecasts(&series, &[origin], a.as_mut(), plan.horizon);
            let after = rolling_forecasts(&changed, &[origin], b.as_mut(), plan.horizon);
            assert_eq!(before, after, "{} looked past its origin", a.name());
        }
    }

    #[test]
    fn too_little_history_names_the_method_and_what_it_needs() {
        let values = vec![1.0; 4 * 7 * 3];
        let plan = Plan { steps_per_day: 4, holdout_days: 7, horizon: 4 };
        let mut methods: Vec<Box<dyn Forecaster>> = vec![Box::new(DoubleSeasonalHoltWinters::new(4))];
        let error = run(&values, &plan, &mut methods).unwrap_err();
        assert_eq!(
            error,
            BacktestError::TooLittleHistory {
                holdout_days: 7,
                before: 56,
                method: "double_seasonal_holt_winters",
                needed: 84,
                needed_days: 21
            }
        );
    }

    /// A load with a daily shape, lower weekends, a level that wanders from
    /// week to week and noise that persists from step to step, as metered
    /// demand does. Deterministic (a fixed-seed generator).
    fn synthetic_load(steps_per_day: usize, days: usize, seed: u64) -> Vec<f64> {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut random = StdRng::seed_from_u64(seed);
        let (mut level, mut noise) = (1000.0, 0.0);
        (0..steps_per_day * days)
            .map(|i| {
                let hour = 24.0 * (i % steps_per_day) as f64 / steps_per_day as f64;
                let day_shape = 250.0 * (std::f64::consts::PI * (hour - 4.0) / 24.0).sin().powi(2);
                let weekend = if (i / steps_per_day) % 7 >= 5 { -180.0 } else { 0.0 };
                level += random.gen_range(-3.0..3.0);
                noise = 0.8 * noise + random.gen_range(-12.0..12.0);
                level + day_shape + weekend + noise
            })
            .collect()
    }

    #[test]
    fn two_seasons_beat_the_weekly_baseline_on_daily_and_weekly_structure() {
        let steps_per_day = 24;
        let series = synthetic_load(steps_per_day, 70, 11);
        let plan = Plan { steps_per_day, holdout_days: 14, horizon: steps_per_day };
        let backtest = run(&series, &plan, &mut standard_methods(steps_per_day)).unwrap();
        let (two_seasons, week, day) = (
            backtest.methods["double_seasonal_holt_winters"].mape,
            backtest.methods["seasonal_naive_week"].mape,
            backtest.methods["seasonal_naive_day"].mape,
        );
        assert!(two_seasons < 0.8 * week, "two seasons {two_seasons:.2} %, weekly naive {week:.2} %");
        // The daily baseline misses every Saturday and Monday.
        assert!(week < day, "weekly naive {week:.2} %, daily naive {day:.2} %");
        assert_eq!(backtest.chosen, "double_seasonal_holt_winters");
        assert_eq!(backtest.origins.len(), 14);
    }

    #[test]
    fn the_json_holds_the_methods_and_the_choice_only() {
        let values: Vec<f64> = (1..=40).map(f64::from).collect();
        let plan = Plan { steps_per_day: 4, holdout_days: 2, horizon: 2 };
        let mut methods: Vec<Box<dyn Forecaster>> = vec![Box::new(LastValue { seen: vec![] })];
        let json = serde_json::to_value(run(&values, &plan, &mut methods).unwrap()).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["chosen", "methods"]);
        // Origins 32 and 36: one step ahead is off by 1 in 33 and in 37.
        let one_step = json["methods"]["last_value"]["mape_by_step"][0].as_f64().unwrap();
        assert!((one_step - 50.0 * (1.0 / 33.0 + 1.0 / 37.0)).abs() < 1e-12);
    }
}
