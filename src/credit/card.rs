//! A points scorecard: for each factor, bins that each give points; the
//! score is the base plus the points of the bin each factor's input falls
//! in. The default card (credit::default_card) and a card fitted from a
//! tenant's history (credit::calibrate) have this one shape, so rating,
//! explaining and comparing never care where a card came from.

use serde::{Deserialize, Serialize};

/// One bin of a factor. The first bin that matches wins, so a card lists
/// `Missing` and `Other` last when they are catch-alls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bin {
    /// `lower <= x < upper`; `None` is unbounded on that side.
    Range { lower: Option<f64>, upper: Option<f64>, points: f64 },
    /// A text input equal to one of `values`.
    Categories { values: Vec<String>, points: f64 },
    /// No input (no payments yet, no interval data, …).
    Missing { points: f64 },
    /// Anything the bins before did not match (a category never seen).
    Other { points: f64 },
}

impl Bin {
    pub fn points(&self) -> f64 {
        match self {
            Bin::Range { points, .. }
            | Bin::Categories { points, .. }
            | Bin::Missing { points }
            | Bin::Other { points } => *points,
        }
    }

    pub fn matches(&self, input: &Input) -> bool {
        match (self, input) {
            (Bin::Range { lower, upper, .. }, Input::Number(x)) => {
                lower.is_none_or(|l| *x >= l) && upper.is_none_or(|u| *x < u)
            }
            (Bin::Categories { values, .. }, Input::Text(t)) => values.iter().any(|v| v == t),
            (Bin::Missing { .. }, Input::Missing) => true,
            (Bin::Other { .. }, _) => true,
            _ => false,
        }
    }
}

/// One factor's input for one customer.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Number(f64),
    Text(String),
    Missing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactorCard {
    /// The factor's code (a column of the inputs).
    pub factor: String,
    pub bins: Vec<Bin>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// Points every customer starts with.
    pub base: f64,
    pub factors: Vec<FactorCard>,
}

/// What one factor gave one customer: the bin (index into the factor's bins)
/// and its points; no bin when none matched (0 points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Awarded {
    pub bin: Option<usize>,
    pub points: f64,
}

impl FactorCard {
    pub fn award(&self, input: &Input) -> Awarded {
        match self.bins.iter().position(|b| b.matches(input)) {
            Some(i) => Awarded { bin: Some(i), points: self.bins[i].points() },
            None => Awarded { bin: None, points: 0.0 },
        }
    }
}

impl Scorecard {
    /// Each factor's award, in card order, for the inputs `input_of` gives by
    /// factor code.
    pub fn award(&self, input_of: impl Fn(&str) -> Input) -> Vec<Awarded> {
        self.factors.iter().map(|f| f.award(&input_of(&f.factor))).collect()
    }

    /// The base plus every factor's points.
    pub fn score(&self, awarded: &[Awarded]) -> f64 {
        self.base + awarded.iter().map(|a| a.points).sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Scorecard {
        Scorecard {
            base: 500.0,
            factors: vec![
                FactorCard {
                    factor: "late_fees".into(),
                    bins: vec![
                        Bin::Range { lower: None, upper: Some(1.0), points: 40.0 },
                        Bin::Range { lower: Some(1.0), upper: Some(3.0), points: 10.0 },
                        Bin::Range { lower: Some(3.0), upper: None, points: -30.0 },
                        Bin::Missing { points: 0.0 },
                    ],
                },
                FactorCard {
                    factor: "industry_risk".into(),
                    bins: vec![
                        Bin::Categories { values: vec!["low".into()], points: 20.0 },
                        Bin::Categories { values: vec!["medium".into(), "high".into()], points: -5.0 },
                        Bin::Other { points: 1.0 },
                    ],
                },
            ],
        }
    }

    #[test]
    fn ranges_include_the_lower_edge_and_exclude_the_upper() {
        let c = card();
        let f = &c.factors[0];
        assert_eq!(f.award(&Input::Number(0.0)).bin, Some(0));
        assert_eq!(f.award(&Input::Number(0.999)).bin, Some(0));
        assert_eq!(f.award(&Input::Number(1.0)).bin, Some(1));
        assert_eq!(f.award(&Input::Number(3.0)).bin, Some(2));
        assert_eq!(f.award(&Input::Missing).bin, Some(3));
        // A text input matches no range and there is no catch-all.
        assert_eq!(f.award(&Input::Text("x".into())), Awarded { bin: None, points: 0.0 });
    }

    #[test]
    fn categories_then_the_catch_all() {
        let c = card();
        let f = &c.factors[1];
        assert_eq!(f.award(&Input::Text("high".into())).points, -5.0);
        assert_eq!(f.award(&Input::Text("unknown".into())).points, 1.0);
        assert_eq!(f.award(&Input::Missing).points, 1.0);
    }

    #[test]
    fn the_score_is_the_base_plus_every_factors_points() {
        let c = card();
        let awarded = c.award(|f| match f {
            "late_fees" => Input::Number(4.0),
            _ => Input::Text("low".into()),
        });
        assert_eq!(c.score(&awarded), 500.0 - 30.0 + 20.0);
    }

    #[test]
    fn a_card_round_trips_through_json() {
        let c = card();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""kind":"range""#), "{json}");
        assert_eq!(serde_json::from_str::<Scorecard>(&json).unwrap(), c);
    }
}
