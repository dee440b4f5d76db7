//! Logistic regression of the bad outcome on the factors' WoE, by
//! linfa-logistic (L-BFGS).

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, ArrayView2};

use super::{CalibrateError, Options};

/// The largest per-row gradient of the penalised log-likelihood accepted as
/// converged: fits that converge leave 1e-8 or less, and 1e-5 moves no
/// score by a visible amount.
const CONVERGED_GRADIENT: f64 = 1e-5;

/// ln(P(bad) / P(good)) = intercept + Σ coefficients · WoE.
pub struct Regression {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
}

/// Fits the model; `labels` must hold both 0 and 1.
pub fn logistic_regression(
    woe: ArrayView2<f64>,
    labels: &[u8],
    options: &Options,
) -> Result<Regression, CalibrateError> {
    let rows = labels.len() as f64;
    let model = LogisticRegression::default()
        .alpha(options.l2_penalty)
        .max_iterations(options.max_iterations)
        // linfa's loss is a sum over rows, not a mean.
        .gradient_tolerance(options.gradient_tolerance * rows)
        .fit(&DatasetBase::new(woe, Array1::from(labels.to_vec())))?;
    // linfa models the more frequent class as the positive one; turn it to
    // model the bad outcome whichever is more frequent.
    let sign = if model.labels().pos.class == 1 { 1.0 } else { -1.0 };
    let intercept = sign * model.intercept();
    let coefficients = model.params().mapv(|c| sign * c);

    // linfa returns its best parameters whether L-BFGS converged or ran out
    // of iterations, without saying which: look at the gradient.
    let bad = Array1::from_iter(labels.iter().map(|&l| f64::from(l)));
    let residuals = (woe.dot(&coefficients) + intercept).mapv(|z| 1.0 / (1.0 + (-z).exp())) - bad;
    let gradient = woe.t().dot(&residuals) + options.l2_penalty * &coefficients;
    let largest = gradient.iter().chain([&residuals.sum()]).fold(0.0_f64, |m, g| m.max(g.abs())) / rows;
    if largest > CONVERGED_GRADIENT {
        return Err(CalibrateError::NotConverged { iterations: options.max_iterations, gradient: largest });
    }
    Ok(Regression { intercept, coefficients: coefficients.to_vec() })
}
