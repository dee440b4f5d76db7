//! Calibrating a tenant's scorecard from its own history: the customers as
//! they stood 18 months ago (training) and 12 months ago (held out, a
//! time-based split), each labelled bad when arrears grew older than 90 days
//! in the twelve months that followed; a candidate card fitted on the first
//! and both cards measured on the second.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::credit::{
    self, FACTORS, GRADES,
    calibrate::{self, CalibrateError, Measures, Options, Table},
    card::Scorecard,
    db,
};

/// How many months before the current one each sample stands.
pub const TRAIN_MONTHS_BACK: u32 = 18;
pub const TEST_MONTHS_BACK: u32 = 12;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sample {
    pub month: NaiveDate,
    pub customers: usize,
    pub bad: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The card in use, measured on the held-out customers.
    pub current: Measures,
    /// The card fitted on the training customers, measured on the held-out ones.
    pub candidate: Measures,
    pub n_train: usize,
    pub n_test: usize,
    pub train: Sample,
    pub test: Sample,
    /// Held-out customers per grade under each card (the tenant's bands), AAA first.
    pub current_grades: Vec<(String, usize)>,
    pub candidate_grades: Vec<(String, usize)>,
    pub information_value: Vec<(String, f64)>,
    pub dropped: Vec<calibrate::Dropped>,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error(
        "{role} sample as of {month}: {customers} customers with history, {bad} of them bad; calibration needs both good and bad customers (it needs at least {TRAIN_MONTHS_BACK} months of bills)"
    )]
    Sample { role: &'static str, month: NaiveDate, customers: usize, bad: usize },
    #[error(transparent)]
    Fit(#[from] CalibrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Settings(#[from] anyhow::Error),
}

/// The customers with history as of `month`, as a factor table, with their
/// labels and inputs.
async fn sample(
    conn: &mut PgConnection,
    month: NaiveDate,
    bad: &HashSet<Uuid>,
    role: &'static str,
) -> Result<(Table, Vec<u8>, Vec<credit::Inputs>, Sample), CalibrationError> {
    let rows = db::inputs_as_of(conn, month, month).await?;
    let (mut table_rows, mut labels, mut inputs) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows.into_iter().filter(|r| r.history_months > 0) {
        table_rows.push(FACTORS.iter().map(|f| r.inputs.input(f)).collect());
        labels.push(u8::from(bad.contains(&r.customer_id)));
        inputs.push(r.inputs);
    }
    let bad = labels.iter().filter(|&&l| l == 1).count();
    let s = Sample { month, customers: labels.len(), bad };
    if bad == 0 || bad == labels.len() {
        return Err(CalibrationError::Sample { role, month, customers: s.customers, bad });
    }
    let table = Table { columns: FACTORS.iter().map(|f| f.to_string()).collect(), rows: table_rows };
    Ok((table, labels, inputs, s))
}

fn distribution(grades: impl Iterator<Item = &'static str>) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for g in grades {
        *counts.entry(g).or_default() += 1;
    }
    GRADES.iter().map(|g| (g.to_string(), counts.get(g).copied().unwrap_or(0))).collect()
}

/// Fits and measures a candidate card for the current tenant; stores nothing.
pub async fn calibrate(
    conn: &mut PgConnection,
    options: &Options,
) -> Result<(CalibrationReport, Scorecard), CalibrationError> {
    let settings = db::settings(conn).await?;
    let current_month = crate::tenants::current_month(conn).await?;
    sqlx::query("SET LOCAL work_mem = '512MB'").execute(&mut *conn).await?;
    let train_month = crate::months::back(current_month, TRAIN_MONTHS_BACK);
    let test_month = crate::months::back(current_month, TEST_MONTHS_BACK);
    let mut laps = credit::Laps::new("credit calibration");
    let bad = db::bad_within_year(conn, &[train_month, test_month]).await?;
    laps.lap("outcomes");
    let (train, train_labels, _, train_sample) = sample(conn, train_month, &bad[0], "training").await?;
    laps.lap("training sample");
    let (test, test_labels, test_inputs, test_sample) = sample(conn, test_month, &bad[1], "held-out").await?;
    laps.lap("held-out sample");

    let fitted = calibrate::fit(&train, &train_labels, options)?;
    laps.lap("fit");
    let candidate_scores = fitted.scores(&test)?;
    let current_scores: Vec<f64> =
        test_inputs.iter().map(|i| credit::rate(&settings.card, &settings.bands, i).score).collect();
    let negated = |scores: &[f64]| scores.iter().map(|s| -s).collect::<Vec<f64>>();
    let candidate = calibrate::measure(&negated(&candidate_scores), &test_labels)?;
    let current = calibrate::measure(&negated(&current_scores), &test_labels)?;
    laps.lap("measured");
    let report = CalibrationReport {
        current,
        candidate,
        n_train: train_labels.len(),
        n_test: test_labels.len(),
        train: train_sample,
        test: test_sample,
        current_grades: distribution(current_scores.iter().map(|&s| settings.bands.grade(s))),
        candidate_grades: distribution(candidate_scores.iter().map(|&s| settings.bands.grade(s))),
        information_value: fitted.information_value.clone(),
        dropped: fitted.dropped.clone(),
    };
    Ok((report, fitted.card))
}
