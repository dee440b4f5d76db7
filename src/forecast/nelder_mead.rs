//! Nelder–Mead minimisation without derivatives: enough for the handful of
//! smoothing parameters of a forecasting method, where the error surface is
//! smooth but its gradient is not worth deriving.

/// Stops after this many evaluations, or when the simplex's values differ by
/// less than `tolerance` (relative to the best).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_evaluations: usize,
    pub tolerance: f64,
    /// The first simplex's edge along each axis.
    pub initial_step: f64,
}

/// The point found and its value.
pub fn minimize(mut objective: impl FnMut(&[f64]) -> f64, start: &[f64], limits: Limits) -> (Vec<f64>, f64) {
    let dimensions = start.len();
    let evaluations = std::cell::Cell::new(0);
    let mut evaluate = |point: &[f64]| {
        evaluations.set(evaluations.get() + 1);
        let value = objective(point);
        // A diverging candidate must lose, not poison the comparisons.
        if value.is_nan() { f64::INFINITY } else { value }
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(dimensions + 1);
    simplex.push((start.to_vec(), evaluate(start)));
    for axis in 0..dimensions {
        let mut vertex = start.to_vec();
        vertex[axis] += limits.initial_step;
        let value = evaluate(&vertex);
        simplex.push((vertex, value));
    }
    // Points on the line from the centroid through the worst vertex.
    let along = |centroid: &[f64], worst: &[f64], factor: f64| -> Vec<f64> {
        centroid.iter().zip(worst).map(|(c, w)| c + factor * (c - w)).collect()
    };
    loop {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[dimensions].1);
        if evaluations.get() >= limits.max_evaluations
            || (worst - best).abs() <= limits.tolerance * best.abs().max(1e-12)
        {
            break;
        }
        let mut centroid = vec![0.0; dimensions];
        for (vertex, _) in &simplex[..dimensions] {
            for (c, v) in centroid.iter_mut().zip(vertex) {
                *c += v / dimensions as f64;
            }
        }
        let worst_point = simplex[dimensions].0.clone();
        let reflected = along(&centroid, &worst_point, 1.0);
        let reflected_value = evaluate(&reflected);
        if reflected_value < best {
            let expanded = along(&centroid, &worst_point, 2.0);
            let expanded_value = evaluate(&expanded);
            simplex[dimensions] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[dimensions - 1].1 {
            simplex[dimensions] = (reflected, reflected_value);
        } else {
            // Contract towards the better of the worst and the reflected point.
            let (factor, bound) = if reflected_value < worst { (0.5, reflected_value) } else { (-0.5, worst) };
            let contracted = along(&centroid, &worst_point, factor);
            let contracted_value = evaluate(&contracted);
            if contracted_value < bound {
                simplex[dimensions] = (contracted, contracted_value);
            } else {
                let best_point = simplex[0].0.clone();
                for (vertex, value) in simplex.iter_mut().skip(1) {
                    for (v, b) in vertex.iter_mut().zip(&best_point) {
                        *v = b + 0.5 * (*v - b);
                    }
                    *value = evaluate(vertex);
                }
            }
        }
    }
    let (point, value) = simplex.swap_remove(0);
    (point, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_shifted_bowl() {
        let limits = Limits { max_evaluations: 2000, tolerance: 1e-12, initial_step: 0.5 };
        let (point, value) =
            minimize(|x| (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2) + 2.0, &[0.0, 0.0], limits);
        assert!((point[0] - 3.0).abs() < 1e-3 && (point[1] + 1.0).abs() < 1e-3, "{point:?}");
        assert!((value - 2.0).abs() < 1e-6);
    }

    #[test]
    fn stops_at_the_evaluation_limit() {
        let mut calls = 0;
        let limits = Limits { max_evaluations: 20, tolerance: 0.0, initial_step: 1.0 };
        minimize(
            |x| {
                calls += 1;
                x.iter().map(|v| v * v).sum()
            },
            &[5.0, 5.0, 5.0],
            limits,
        );
        // The last iteration may shrink the whole simplex past the limit.
        assert!((20..=20 + 4).contains(&calls), "{calls} evaluations");
    }
}
