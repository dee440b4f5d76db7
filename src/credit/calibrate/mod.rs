//! Fitting a points scorecard from a tenant's history: weight-of-evidence
//! binning of each factor, logistic regression of the bad outcome on the
//! WoE, and points scaled so that `pdo` points double the odds of good.
//! The result is an ordinary `Scorecard`, so a fitted card scores exactly as
//! the default one does.

mod fit;
mod measure;
mod table;
mod woe;

use std::io::Read;

use ndarray::{Array2, Axis};
use serde_json::{Value, json};

pub use measure::{Measures, measure};
pub use table::{ColumnKind, CsvFile, Table, read_csv};
pub use woe::{Binning, WoeBin, bin_column};

use crate::credit::card::{Awarded, Bin, FactorCard, Input, Scorecard};

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Quantile groups a numeric factor starts from before merging.
    pub fine_bins: usize,
    /// The least share of training rows a bin may hold (gaps excepted).
    pub min_bin_share: f64,
    /// Added to each bin's goods and bads, so no WoE is infinite.
    pub smoothing: f64,
    /// Factors that tell less than this about the outcome are left out.
    pub min_information_value: f64,
    /// L2 penalty on the coefficients (0: the plain maximum-likelihood fit).
    pub l2_penalty: f64,
    /// Solver iterations at most.
    pub max_iterations: u64,
    /// The solver stops when the log-likelihood's gradient, per training
    /// row, is this small.
    pub gradient_tolerance: f64,
    /// Without a test file: the share of training rows, the last in the
    /// file, held out to measure the card.
    pub holdout_share: f64,
    /// Points at `base_odds`.
    pub base_score: f64,
    /// Odds of good to bad that score `base_score`.
    pub base_odds: f64,
    /// Points that double the odds of good.
    pub points_to_double_odds: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fine_bins: 20,
            min_bin_share: 0.05,
            smoothing: 0.5,
            min_information_value: 0.02,
            l2_penalty: 0.0,
            max_iterations: 1000,
            gradient_tolerance: 1e-8,
            holdout_share: 0.25,
            base_score: 600.0,
            base_odds: 50.0,
            points_to_double_odds: 20.0,
        }
    }
}

impl Options {
    fn check(&self) -> Result<(), CalibrateError> {
        let checks = [
            (self.fine_bins >= 2, "fine_bins must be at least 2"),
            ((0.0..0.5).contains(&self.min_bin_share), "min_bin_share must be at least 0 and below 0.5"),
            (self.smoothing > 0.0 && self.smoothing.is_finite(), "smoothing must be a positive number"),
            (self.min_information_value >= 0.0, "min_information_value must not be negative"),
            (self.l2_penalty >= 0.0 && self.l2_penalty.is_finite(), "l2_penalty must not be negative"),
            (self.max_iterations >= 1, "max_iterations must be at least 1"),
            (
                self.gradient_tolerance > 0.0 && self.gradient_tolerance.is_finite(),
                "gradient_tolerance must be positive",
            ),
            (self.holdout_share > 0.0 && self.holdout_share < 1.0, "holdout_share must lie between 0 and 1"),
            (self.base_score.is_finite(), "base_score must be a number"),
            (self.base_odds > 0.0 && self.base_odds.is_finite(), "base_odds must be positive"),
            (
                self.points_to_double_odds > 0.0 && self.points_to_double_odds.is_finite(),
                "points_to_double_odds must be positive",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, problem)) => Err(CalibrateError::InvalidOption(problem)),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("the file is empty: a header row is required")]
    EmptyFile,
    #[error("the header names column {0:?} twice")]
    DuplicateColumn(String),
    #[error("line {line}: {found} cells where the header has {expected}")]
    RowLength { line: u64, found: usize, expected: usize },
    #[error("line {line}, column {column:?}: {problem}")]
    Cell { line: u64, column: String, problem: String },
    #[error("the {role} column {column:?} is not in the header (columns: {})", quoted(header))]
    UnknownColumn { role: &'static str, column: String, header: Vec<String> },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error("{file} file: {source}")]
    InFile { file: &'static str, source: Box<CalibrateError> },
    #[error("{rows} rows but {labels} labels")]
    RowsAndLabels { rows: usize, labels: usize },
    #[error("{scores} scores but {labels} labels")]
    LengthMismatch { scores: usize, labels: usize },
    #[error("score {} is not a number", position + 1)]
    NotAScore { position: usize },
    #[error("label {} is {found}, not 0 or 1", position + 1)]
    NotALabel { position: usize, found: u8 },
    #[error("no rows: {needed_by} both good (0) and bad (1) rows")]
    NoRows { needed_by: &'static str },
    #[error("all {rows} rows have label {label}: {needed_by} both good (0) and bad (1) rows")]
    OneClass { rows: usize, label: u8, needed_by: &'static str },
    #[error("measuring on the {rows}: {source}")]
    Measuring { rows: &'static str, source: Box<CalibrateError> },
    #[error("{rows} training rows are too few to hold out the last {share}% and fit on the rest")]
    TooFewToHoldOut { rows: usize, share: f64 },
    #[error("no factor is left to fit a card: {}", dropped.iter().map(|d| format!("{:?} {}", d.factor, d.reason)).collect::<Vec<_>>().join("; "))]
    NoFactorLeft { dropped: Vec<Dropped> },
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
    #[error(
        "logistic regression did not converge in {iterations} iterations (largest gradient per row {gradient:.1e}): allow more iterations"
    )]
    NotConverged { iterations: u64, gradient: f64 },
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// Turns scores to odds and back: score = offset + factor · ln(odds good:bad).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    pub offset: f64,
    pub factor: f64,
}

impl Scaling {
    pub fn new(options: &Options) -> Scaling {
        let factor = options.points_to_double_odds / std::f64::consts::LN_2;
        Scaling { offset: options.base_score - factor * options.base_odds.ln(), factor }
    }

    /// The score of a model's ln(P(bad) / P(good)).
    pub fn score_of_log_odds_of_bad(&self, log_odds_of_bad: f64) -> f64 {
        self.offset - self.factor * log_odds_of_bad
    }

    pub fn probability_of_bad(&self, score: f64) -> f64 {
        1.0 / (1.0 + ((score - self.offset) / self.factor).exp())
    }
}

/// A factor the fit left out, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dropped {
    pub factor: String,
    pub reason: DropReason,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DropReason {
    /// It tells too little about the outcome.
    LowInformation { information_value: f64, minimum: f64 },
    /// Its coefficient came out positive: with the other factors in, more
    /// goods in its bin would not mean fewer bads.
    WrongSign { coefficient: f64 },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::LowInformation { information_value, minimum } => {
                write!(f, "information value {information_value:.4} is below {minimum}")
            }
            DropReason::WrongSign { coefficient } => write!(
                f,
                "coefficient {coefficient:+.4} on its WoE is not negative (with the other factors in, more goods in its bin would not mean fewer bads)"
            ),
        }
    }
}

/// A fitted card and how it came to be.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub card: Scorecard,
    /// The model's intercept, on ln(P(bad) / P(good)).
    pub intercept: f64,
    /// Coefficient on each kept factor's WoE, in card order (all negative).
    pub coefficients: Vec<(String, f64)>,
    /// Every factor's information value, in the table's column order.
    pub information_value: Vec<(String, f64)>,
    /// Factors left out, with why.
    pub dropped: Vec<Dropped>,
    /// Each kept factor's bins with their training counts and WoE, in card order.
    pub binnings: Vec<Binning>,
    pub scaling: Scaling,
}

impl Fitted {
    pub fn probability_of_bad(&self, score: f64) -> f64 {
        self.scaling.probability_of_bad(score)
    }

    /// The card's score for the inputs `input_of` gives by factor code.
    pub fn score(&self, input_of: impl Fn(&str) -> Input) -> f64 {
        self.card.score(&self.card.award(input_of))
    }

    /// Each row's card score, matching the card's factors to `table`'s
    /// columns by name.
    pub fn scores(&self, table: &Table) -> Result<Vec<f64>, CalibrateError> {
        let columns: Vec<usize> = self
            .card
            .factors
            .iter()
            .map(|f| {
                table.column_index(&f.factor).ok_or_else(|| CalibrateError::UnknownColumn {
                    role: "factor",
                    column: f.factor.clone(),
                    header: table.columns.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(table
            .rows
            .iter()
            .map(|row| {
                let awarded: Vec<Awarded> =
                    self.card.factors.iter().zip(&columns).map(|(f, &c)| f.award(&row[c])).collect();
                self.card.score(&awarded)
            })
            .collect())
    }

    /// The card's factors and how a file to score must type them: text for
    /// a factor binned by category, numbers otherwise.
    pub fn factor_columns(&self) -> Vec<(String, ColumnKind)> {
        self.binnings
            .iter()
            .map(|b| {
                let text = b.bins.iter().any(|w| matches!(w.bin, Bin::Other { .. }));
                (b.factor.clone(), if text { ColumnKind::Text } else { ColumnKind::Number })
            })
            .collect()
    }
}

/// Checks labels are 0/1 and both present; `needed_by` says for what.
fn check_labels(labels: &[u8], needed_by: &'static str) -> Result<(), CalibrateError> {
    if let Some(position) = labels.iter().position(|&l| l > 1) {
        return Err(CalibrateError::NotALabel { position, found: labels[position] });
    }
    match labels.first() {
        None => Err(CalibrateError::NoRows { needed_by }),
        Some(&first) if labels.iter().all(|&l| l == first) => {
            Err(CalibrateError::OneClass { rows: labels.len(), label: first, needed_by })
        }
        Some(_) => Ok(()),
    }
}

/// Fits a card on every row of `table` (labels: 1 = bad). Factors with too
/// little information are left out before the fit; factors whose coefficient
/// comes out with the wrong sign are left out one at a time, worst first,
/// refitting each time.
pub fn fit(table: &Table, labels: &[u8], options: &Options) -> Result<Fitted, CalibrateError> {
    options.check()?;
    if table.rows.len() != labels.len() {
        return Err(CalibrateError::RowsAndLabels { rows: table.rows.len(), labels: labels.len() });
    }
    check_labels(labels, "fitting a card needs")?;

    let binnings: Vec<Binning> = table
        .columns
        .iter()
        .enumerate()
        .map(|(c, name)| bin_column(name, table.rows.iter().map(|r| &r[c]), labels, options))
        .collect();
    let information_value = binnings.iter().map(|b| (b.factor.clone(), b.information_value)).collect();
    let mut dropped = Vec::new();
    let mut candidates = Vec::new();
    for (column, binning) in binnings.into_iter().enumerate() {
        if binning.information_value < options.min_information_value {
            let reason = DropReason::LowInformation {
                information_value: binning.information_value,
                minimum: options.min_information_value,
            };
            dropped.push(Dropped { factor: binning.factor, reason });
        } else {
            candidates.push((column, binning));
        }
    }
    let woe = Array2::from_shape_fn((table.rows.len(), candidates.len()), |(row, j)| {
        let (column, binning) = &candidates[j];
        binning.woe_of(&table.rows[row][*column])
    });

    let mut active: Vec<usize> = (0..candidates.len()).collect();
    let regression = loop {
        if active.is_empty() {
            return Err(CalibrateError::NoFactorLeft { dropped });
        }
        let regression = fit::logistic_regression(woe.select(Axis(1), &active).view(), labels, options)?;
        // More goods than bads in a bin must mean less chance of bad.
        let wrong_sign = (0..active.len())
            .filter(|&k| regression.coefficients[k] >= 0.0)
            .max_by(|&a, &b| regression.coefficients[a].total_cmp(&regression.coefficients[b]));
        let Some(k) = wrong_sign else { break regression };
        let reason = DropReason::WrongSign { coefficient: regression.coefficients[k] };
        dropped.push(Dropped { factor: candidates[active[k]].1.factor.clone(), reason });
        active.remove(k);
    };

    let scaling = Scaling::new(options);
    let mut binnings = Vec::new();
    let mut factors = Vec::new();
    let mut coefficients = Vec::new();
    for (&j, &coefficient) in active.iter().zip(&regression.coefficients) {
        let binning = candidates[j].1.clone();
        let bins = binning.bins.iter().map(|b| with_points(&b.bin, -scaling.factor * coefficient * b.woe)).collect();
        factors.push(FactorCard { factor: binning.factor.clone(), bins });
        coefficients.push((binning.factor.clone(), coefficient));
        binnings.push(binning);
    }
    Ok(Fitted {
        card: Scorecard { base: scaling.score_of_log_odds_of_bad(regression.intercept), factors },
        intercept: regression.intercept,
        coefficients,
        information_value,
        dropped,
        binnings,
        scaling,
    })
}

fn with_points(bin: &Bin, points: f64) -> Bin {
    match bin.clone() {
        Bin::Range { lower, upper, .. } => Bin::Range { lower, upper, points },
        Bin::Categories { values, .. } => Bin::Categories { values, points },
        Bin::Missing { .. } => Bin::Missing { points },
        Bin::Other { .. } => Bin::Other { points },
    }
}

/// Calibrates a card from a training CSV (`label`: 1 = bad outcome) and
/// reports how well it ranks, as `gridcrm credit calibrate --json` prints.
///
/// Without `test`, the last `holdout_share` of the training rows (the file
/// is taken to be in time order) is held out and measured; with `test`, the
/// card is fitted on all training rows and measured on the test file when it
/// has the label (otherwise on the training rows), and the test rows'
/// probabilities of the bad outcome are listed in file order.
pub fn calibrate_csv(
    train: impl Read,
    label: &str,
    test: Option<impl Read>,
    options: &Options,
) -> Result<Value, CalibrateError> {
    options.check()?;
    let in_training = |e| CalibrateError::InFile { file: "training", source: Box::new(e) };
    let training = CsvFile::read(train).map_err(in_training)?;
    let labels = training.labels(label).map_err(in_training)?;
    let table = training.to_table(Some(label));
    drop(training);

    let Some(test) = test else {
        let held_out = (table.rows.len() as f64 * options.holdout_share).round() as usize;
        let n_train = table.rows.len() - held_out;
        if held_out == 0 || n_train == 0 {
            return Err(CalibrateError::TooFewToHoldOut {
                rows: table.rows.len(),
                share: 100.0 * options.holdout_share,
            });
        }
        let (fit_rows, later_rows) = table.split_at(n_train);
        let fitted = fit(&fit_rows, &labels[..n_train], options)?;
        let bad_scores: Vec<f64> = fitted.scores(&later_rows)?.iter().map(|s| -s).collect();
        let candidate = measure(&bad_scores, &labels[n_train..]).map_err(|e| CalibrateError::Measuring {
            rows: "held-out rows (the last of the training file)",
            source: Box::new(e),
        })?;
        return Ok(report(&fitted, n_train, held_out, candidate, "holdout"));
    };

    let fitted = fit(&table, &labels, options)?;
    let in_test = |e| CalibrateError::InFile { file: "test", source: Box::new(e) };
    let test = CsvFile::read(test).map_err(in_test)?;
    let test_labels = if test.has_column(label) { Some(test.labels(label).map_err(in_test)?) } else { None };
    let test_table = test.to_table_as(&fitted.factor_columns()).map_err(in_test)?;
    let test_scores = fitted.scores(&test_table)?;
    let probabilities: Vec<f64> = test_scores.iter().map(|&s| fitted.probability_of_bad(s)).collect();
    let negated = |scores: &[f64]| scores.iter().map(|s| -s).collect::<Vec<f64>>();
    let mut output = match &test_labels {
        Some(test_labels) => {
            let measured = measure(&negated(&test_scores), test_labels)
                .map_err(|e| CalibrateError::Measuring { rows: "test rows", source: Box::new(e) })?;
            let mut output = report(&fitted, table.rows.len(), test_scores.len(), measured, "test");
            output["test"] = json!(measured);
            output
        }
        None => {
            let measured = measure(&negated(&fitted.scores(&table)?), &labels)
                .map_err(|e| CalibrateError::Measuring { rows: "training rows", source: Box::new(e) })?;
            report(&fitted, table.rows.len(), test_scores.len(), measured, "train")
        }
    };
    output["test_probabilities"] = json!(probabilities);
    Ok(output)
}

fn report(fitted: &Fitted, n_train: usize, n_test: usize, candidate: Measures, measured_on: &str) -> Value {
    let pairs =
        |pairs: &[(String, f64)]| pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>();
    json!({
        "candidate": candidate,
        "candidate_measured_on": measured_on,
        "n_train": n_train,
        "n_test": n_test,
        "information_value": pairs(&fitted.information_value),
        "dropped": fitted.dropped.iter().map(|d| json!({"factor": d.factor, "reason": d.reason.to_string()})).collect::<Vec<_>>(),
        "intercept": fitted.intercept,
        "coefficients": pairs(&fitted.coefficients),
        "card": fitted.card,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` rows of payment history: the bad rate rises with `late` and
    /// differs by region; pseudo-noise from (7·i mod 11) makes it imperfect.
    /// With `invert_from`, rows from there on have the trend reversed.
    fn history(rows: usize, invert_from: Option<usize>) -> String {
        let mut csv = String::from("late,region,default\n");
        for i in 0..rows {
            let late = i % 10;
            let (region, shift) = [("north", -0.05), ("south", 0.1), ("east", 0.0)][(i / 10) % 3];
            let trend = if invert_from.is_some_and(|from| i >= from) { 9 - late } else { late };
            let rate = 0.1 + 0.07 * trend as f64 + shift;
            let bad = ((7 * i) % 11) as f64 / 11.0 < rate;
            let late = if i % 17 == 0 { String::new() } else { late.to_string() };
            csv.push_str(&format!("{late},{region},{}\n", u8::from(bad)));
        }
        csv
    }

    fn fitted_history() -> (Table, Vec<u8>, Fitted) {
        let (table, labels) = read_csv(history(600, None).as_bytes(), Some("default")).unwrap();
        let labels = labels.unwrap();
        let fitted = fit(&table, &labels, &Options::default()).unwrap();
        (table, labels, fitted)
    }

    fn calibrate(train: &str, test: Option<&str>, options: &Options) -> Result<Value, CalibrateError> {
        calibrate_csv(train.as_bytes(), "default", test.map(str::as_bytes), options)
    }

    #[test]
    fn the_card_scores_every_row_as_the_model_does() {
        let (table, _, fitted) = fitted_history();
        assert_eq!(fitted.card.factors.len(), 2, "{:?}", fitted.dropped);
        assert!(fitted.coefficients.iter().all(|(_, c)| *c < 0.0));
        let scores = fitted.scores(&table).unwrap();
        for (row, score) in table.rows.iter().zip(&scores) {
            let log_odds_of_bad = fitted.intercept
                + fitted
                    .binnings
                    .iter()
                    .zip(&fitted.coefficients)
                    .map(|(b, (_, c))| c * b.woe_of(&row[table.column_index(&b.factor).unwrap()]))
                    .sum::<f64>();
            let expected = fitted.scaling.score_of_log_odds_of_bad(log_odds_of_bad);
            assert!((score - expected).abs() < 1e-9, "{score} != {expected}");
            let probability = 1.0 / (1.0 + (-log_odds_of_bad).exp());
            assert!((fitted.probability_of_bad(*score) - probability).abs() < 1e-12);
            // The card's own API gives the very same number.
            let by_card = fitted.score(|factor| row[table.column_index(factor).unwrap()].clone());
            assert_eq!(by_card, *score);
        }
    }

    #[test]
    fn points_scale_to_600_at_50_to_1_and_20_points_double_the_odds() {
        let scaling = Scaling::new(&Options::default());
        assert!((scaling.score_of_log_odds_of_bad(-(50.0_f64.ln())) - 600.0).abs() < 1e-9);
        assert!((scaling.probability_of_bad(600.0) - 1.0 / 51.0).abs() < 1e-12);
        assert!((scaling.probability_of_bad(620.0) - 1.0 / 101.0).abs() < 1e-12);
        assert!((scaling.probability_of_bad(580.0) - 1.0 / 26.0).abs() < 1e-12);
    }

    #[test]
    fn every_bin_gets_minus_factor_times_coefficient_times_woe() {
        let (_, _, fitted) = fitted_history();
        for ((factor, binning), (_, coefficient)) in
            fitted.card.factors.iter().zip(&fitted.binnings).zip(&fitted.coefficients)
        {
            for (bin, woe_bin) in factor.bins.iter().zip(&binning.bins) {
                assert_eq!(bin.points(), -fitted.scaling.factor * coefficient * woe_bin.woe);
                // A catch-all that training never filled is neutral.
                if woe_bin.goods + woe_bin.bads == 0 {
                    assert_eq!(bin.points(), 0.0);
                }
            }
        }
        let region = fitted.card.factors.iter().find(|f| f.factor == "region").unwrap();
        assert_eq!(region.bins.last(), Some(&Bin::Other { points: 0.0 }));
    }

    /// Bad rates by (a, b): (0,0) 30/300, (0,1) 5/100, (1,0) 60/100, (1,1)
    /// 150/300. b = 1 is worse overall (155/400 against 90/400) only because
    /// it comes with a = 1; within each a it is better. Its WoE then gets a
    /// positive coefficient once a is in.
    #[test]
    fn a_factor_whose_coefficient_has_the_wrong_sign_is_dropped_and_the_rest_refitted() {
        let mut table = Table { columns: vec!["a".into(), "b".into(), "flat".into()], rows: Vec::new() };
        let mut labels = Vec::new();
        for (a, b, rows, bads) in [(0.0, 0.0, 300, 30), (0.0, 1.0, 100, 5), (1.0, 0.0, 100, 60), (1.0, 1.0, 300, 150)] {
            for i in 0..rows {
                table.rows.push(vec![Input::Number(a), Input::Number(b), Input::Number(1.0)]);
                labels.push(u8::from(i < bads));
            }
        }
        let fitted = fit(&table, &labels, &Options::default()).unwrap();
        assert_eq!(fitted.coefficients.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(
            fitted.dropped.iter().map(|d| d.factor.as_str()).collect::<Vec<_>>(),
            ["flat", "b"],
            "{:?}",
            fitted.dropped
        );
        assert!(fitted.dropped[0].reason.to_string().starts_with("information value 0.0000 is below 0.02"));
        assert!(fitted.dropped[1].reason.to_string().starts_with("coefficient +"));
        assert_eq!(fitted.information_value.len(), 3);
    }

    #[test]
    fn a_table_that_tells_nothing_fits_no_card() {
        let table = Table { columns: vec!["flat".into()], rows: vec![vec![Input::Number(1.0)]; 4] };
        assert_eq!(
            fit(&table, &[0, 1, 0, 1], &Options::default()).unwrap_err().to_string(),
            r#"no factor is left to fit a card: "flat" information value 0.0000 is below 0.02"#
        );
        assert_eq!(
            fit(&table, &[0, 0, 0, 0], &Options::default()).unwrap_err().to_string(),
            "all 4 rows have label 0: fitting a card needs both good (0) and bad (1) rows"
        );
        assert_eq!(fit(&table, &[0, 1], &Options::default()).unwrap_err().to_string(), "4 rows but 2 labels");
        let options = Options { smoothing: 0.0, ..Options::default() };
        assert_eq!(
            fit(&table, &[0, 1, 0, 1], &options).unwrap_err().to_string(),
            "invalid option: smoothing must be a positive number"
        );
    }

    #[test]
    fn a_fit_cut_short_is_refused_not_returned() {
        let (table, labels) = read_csv(history(600, None).as_bytes(), Some("default")).unwrap();
        let options = Options { max_iterations: 1, ..Options::default() };
        let error = fit(&table, &labels.unwrap(), &options).unwrap_err().to_string();
        assert!(error.starts_with("logistic regression did not converge in 1 iterations"), "{error}");
    }

    #[test]
    fn without_a_test_file_the_last_quarter_is_held_out() {
        // The first 300 rows rise with `late`, the last 100 fall: a card fit
        // on the first 300 ranks the last 100 backwards.
        let report = calibrate(&history(400, Some(300)), None, &Options::default()).unwrap();
        assert_eq!(report["n_train"], 300);
        assert_eq!(report["n_test"], 100);
        assert_eq!(report["candidate_measured_on"], "holdout");
        assert!(report["candidate"]["auc"].as_f64().unwrap() < 0.4, "{}", report["candidate"]);
        assert!(report.get("test_probabilities").is_none());
        // Without the reversal the same rows rank well.
        let report = calibrate(&history(400, None), None, &Options::default()).unwrap();
        assert!(report["candidate"]["auc"].as_f64().unwrap() > 0.7, "{}", report["candidate"]);
        assert!(report["information_value"]["late"].as_f64().unwrap() > 0.1);
        assert_eq!(report["card"]["factors"][0]["factor"], "late");
    }

    #[test]
    fn a_labelled_test_file_is_measured_and_fit_uses_all_training_rows() {
        let train = history(600, None);
        let test = history(300, None);
        let report = calibrate(&train, Some(&test), &Options::default()).unwrap();
        assert_eq!(report["n_train"], 600);
        assert_eq!(report["n_test"], 300);
        assert_eq!(report["candidate_measured_on"], "test");
        assert_eq!(report["candidate"], report["test"]);
        assert_eq!(report["test_probabilities"].as_array().unwrap().len(), 300);
    }

    #[test]
    fn a_test_file_without_the_label_gets_probabilities_in_file_order() {
        let (_, _, fitted) = fitted_history();
        // Columns in another order, an extra column, a gap and a region
        // training never saw.
        let test = "region,extra,late\nsouth,x,9\nnorth,y,0\nmoon,z,\n";
        let report = calibrate(&history(600, None), Some(test), &Options::default()).unwrap();
        assert_eq!(report["candidate_measured_on"], "train");
        assert_eq!(report["n_test"], 3);
        assert!(report.get("test").is_none());
        let probabilities: Vec<f64> =
            report["test_probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        let expected: Vec<f64> =
            [("south", Input::Number(9.0)), ("north", Input::Number(0.0)), ("moon", Input::Missing)]
                .into_iter()
                .map(|(region, late)| {
                    let score = fitted.score(|f| if f == "region" { Input::Text(region.into()) } else { late.clone() });
                    fitted.probability_of_bad(score)
                })
                .collect();
        assert_eq!(probabilities, expected);
        assert!(probabilities[0] > probabilities[1]);
        // The unseen region lands in the neutral Other bin.
        let region = fitted.card.factors.iter().find(|f| f.factor == "region").unwrap();
        let awarded = region.award(&Input::Text("moon".into()));
        assert_eq!((region.bins[awarded.bin.unwrap()].clone(), awarded.points), (Bin::Other { points: 0.0 }, 0.0));
    }

    #[test]
    fn file_errors_say_which_file() {
        let train = history(600, None);
        let error =
            |train: &str, test: Option<&str>| calibrate(train, test, &Options::default()).unwrap_err().to_string();
        assert_eq!(
            error(&train, Some("region\nnorth\n")),
            r#"test file: the factor column "late" is not in the header (columns: "region")"#
        );
        assert_eq!(
            error(&train, Some("late,region\n1,north\nsome,south\n")),
            r#"test file: line 3, column "late": expected a number (the column is numeric in the training file), found "some""#
        );
        assert_eq!(
            error(&train, Some("late,region,default\n1,north,no\n")),
            r#"test file: line 2, column "default": the label must be 0 or 1, found "no""#
        );
        assert_eq!(
            error("late,default\n1,0\n2,yes\n", None),
            r#"training file: line 3, column "default": the label must be 0 or 1, found "yes""#
        );
        assert_eq!(
            error("late,outcome\n1,0\n", None),
            r#"training file: the label column "default" is not in the header (columns: "late", "outcome")"#
        );
        assert_eq!(error("", None), "training file: the file is empty: a header row is required");
        assert_eq!(
            error("late,default\n1,0\n", None),
            "1 training rows are too few to hold out the last 25% and fit on the rest"
        );
    }

    #[test]
    fn a_held_out_part_with_one_outcome_cannot_be_measured() {
        let mut csv = history(300, None);
        csv.push_str(&"3,north,0\n".repeat(100));
        assert_eq!(
            calibrate(&csv, None, &Options::default()).unwrap_err().to_string(),
            "measuring on the held-out rows (the last of the training file): all 100 rows have label 0: AUC, Gini and KS need both good (0) and bad (1) rows"
        );
    }
}
