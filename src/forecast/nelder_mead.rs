//! Nelder–Mead minimisation without derivatives (argmin's solver): enough
//! for the handful of smoothing
//! parameters of a forecasting method, where the error surface is smooth
//! but its gradient is not worth deriving.

use argmin::{
    core::{CostFunction, Error, Executor, State},
    solver::neldermead::NelderMead,
};

/// Stops after `max_iterations` (one to `n + 1` evaluations each), or when
/// the simplex's values spread less than `tolerance` relative to the
/// starting point's value.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_iterations: u64,
    pub tolerance: f64,
    /// The first simplex's edge along each axis.
    pub initial_step: f64,
}

/// The objective as argmin wants it; a diverging candidate (NaN) must lose,
/// not poison the comparisons.
struct Objective<F>(F);

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<F> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, point: &Vec<f64>) -> Result<f64, Error> {
        let value = (self.0)(point);
        Ok(if value.is_nan() { f64::INFINITY } else { value })
    }
}

/// The point found and its value; `start` itself when the solver cannot run.
pub fn minimize(objective: impl Fn(&[f64]) -> f64, start: &[f64], limits: Limits) -> (Vec<f64>, f64) {
    let objective = Objective(objective);
    let at_start = objective.cost(&start.to_vec()).unwrap_or(f64::INFINITY);
    let mut simplex = vec![start.to_vec()];
    for axis in 0..start.len() {
        let mut vertex = start.to_vec();
        vertex[axis] += limits.initial_step;
        simplex.push(vertex);
    }
    let tolerance = limits.tolerance * if at_start.is_finite() { at_start.abs().max(1e-12) } else { 1.0 };
    let run = NelderMead::new(simplex).with_sd_tolerance(tolerance).and_then(|solver| {
        Executor::new(objective, solver).configure(|state| state.max_iters(limits.max_iterations)).run()
    });
    match run {
        Ok(result) => {
            let state = result.state();
            match state.get_best_param() {
                Some(best) => (best.clone(), state.get_best_cost()),
                None => (start.to_vec(), at_start),
            }
        }
        Err(_) => (start.to_vec(), at_start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_bowl() {
        let limits = Limits { max_iterations: 2000, tolerance: 1e-12, initial_step: 0.5 };
        let (point, value) =
            minimize(|x| (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2) + 2.0, &[0.0, 0.0], limits);
        assert!((point[0] - 3.0).abs() < 1e-3 && (point[1] + 1.0).abs() < 1e-3, "{point:?}");
        assert!((value - 2.0).abs() < 1e-6);
    }

    #[test]
    fn stops_at_the_iteration_limit() {
        let calls = std::cell::Cell::new(0);
        let limits = Limits { max_iterations: 10, tolerance: 0.0, initial_step: 1.0 };
        let (_, value) = minimize(
            |x| {
                calls.set(calls.get() + 1);
                x.iter().map(|v| v * v).sum()
            },
            &[5.0, 5.0, 5.0],
            limits,
        );
        // The first simplex (4 points), then one to four evaluations per iteration.
        assert!((4 + 10..=4 + 4 * 10 + 1).contains(&calls.get()), "{} evaluations", calls.get());
        assert!(value < 75.0, "it went downhill: {value}");
    }
}
