//! Credit rating (信用评价): every customer's score and grade (AAA, AA, A, B,
//! C) from a points scorecard over the last 24 complete months, the payment
//! method the grade calls for, and the poor-credit list (失信名单).
//!
//! The factors (each customer's inputs come from `credit::db::INPUTS`):
//!
//! - `on_time_share`: of the amount paid for the window's bills, the share
//!   paid by the due date (missing when nothing was paid);
//! - `arrears_months`: month ends at which overdue bills stood unpaid;
//! - `arrears_ratio`: the largest arrears at a month end, in months of the
//!   customer's average bill (missing without bills);
//! - `max_arrears_days`: the age of the oldest overdue bill at any month end;
//! - `late_fees`, `reversals`: how many in the window;
//! - `breaches`, `thefts`: contract breaches and electricity theft recorded
//!   in the window (with evidence, `credit_events`);
//! - `tenure_months`: months since the customer's first bill;
//! - `stability`: the coefficient of variation of monthly energy (standard
//!   deviation over mean; missing with fewer than six months of energy);
//! - `industry_risk`: the industry's risk class, low, medium or high.
//!
//! A card (credit::card) gives each factor's points; the default card below
//! is on the same scale as a fitted one (600 points at odds of 50 good to 1
//! bad, 20 points to double the odds), so the default grade bands fit both.
//! The grade decides the payment method: AAA to A normal post-pay, B post-pay
//! with a deposit or guarantee of `deposit_months` average bills, C cost
//! control. A theft in the window, or grade C with arrears of 90 days or
//! more, puts a customer on the poor-credit list; a rating without either
//! takes them off.

pub mod api;
pub mod calibrate;
pub mod card;
pub mod db;
pub mod pages;
pub mod service;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::web::{error::FieldErrors, input};
use card::{Bin, FactorCard, Input, Scorecard};

/// The factors, in the order cards and explanations list them.
pub const FACTORS: [&str; 11] = [
    "on_time_share",
    "arrears_months",
    "arrears_ratio",
    "max_arrears_days",
    "late_fees",
    "reversals",
    "breaches",
    "thefts",
    "tenure_months",
    "stability",
    "industry_risk",
];

pub const GRADES: [&str; 5] = ["AAA", "AA", "A", "B", "C"];
pub const RISK_CLASSES: [&str; 3] = ["low", "medium", "high"];
pub const METHODS: [&str; 3] = ["post_pay", "post_pay_secured", "cost_control"];
pub const EVENT_KINDS: [&str; 2] = ["breach", "theft"];

/// The risk class of the built-in industries where it is not medium: mining,
/// heavy industry and building carry more risk than public services.
pub const DEFAULT_INDUSTRY_RISK: [(&str, &str); 10] = [
    ("B06", "high"),
    ("C30", "high"),
    ("C31", "high"),
    ("E47", "high"),
    ("K70", "high"),
    ("RES", "low"),
    ("D46", "low"),
    ("P83", "low"),
    ("Q84", "low"),
    ("S92", "low"),
];

/// One customer's factor inputs over the window. (Named apart from the value
/// tiers' inputs in the OpenAPI document: one name, one schema.)
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = CreditInputs)]
pub struct Inputs {
    pub on_time_share: Option<f64>,
    pub arrears_months: i32,
    pub arrears_ratio: Option<f64>,
    pub max_arrears_days: i32,
    pub late_fees: i32,
    pub reversals: i32,
    pub breaches: i32,
    pub thefts: i32,
    pub tenure_months: i32,
    pub stability: Option<f64>,
    pub industry_risk: String,
}

impl Inputs {
    /// The input of a factor by its code; unknown codes are missing.
    pub fn input(&self, factor: &str) -> Input {
        let number = |v: Option<f64>| v.map_or(Input::Missing, Input::Number);
        match factor {
            "on_time_share" => number(self.on_time_share),
            "arrears_months" => Input::Number(self.arrears_months.into()),
            "arrears_ratio" => number(self.arrears_ratio),
            "max_arrears_days" => Input::Number(self.max_arrears_days.into()),
            "late_fees" => Input::Number(self.late_fees.into()),
            "reversals" => Input::Number(self.reversals.into()),
            "breaches" => Input::Number(self.breaches.into()),
            "thefts" => Input::Number(self.thefts.into()),
            "tenure_months" => Input::Number(self.tenure_months.into()),
            "stability" => number(self.stability),
            "industry_risk" => Input::Text(self.industry_risk.clone()),
            _ => Input::Missing,
        }
    }

    /// The numeric factors' inputs in [`FACTORS`] order (all but the last,
    /// `industry_risk`), as a rating's history row keeps them.
    pub fn numbers(&self) -> [Option<f64>; NUMERIC_FACTORS] {
        [
            self.on_time_share,
            Some(self.arrears_months.into()),
            self.arrears_ratio,
            Some(self.max_arrears_days.into()),
            Some(self.late_fees.into()),
            Some(self.reversals.into()),
            Some(self.breaches.into()),
            Some(self.thefts.into()),
            Some(self.tenure_months.into()),
            self.stability,
        ]
    }

    /// The inputs back from [`Inputs::numbers`] and the industry's risk
    /// class; None when the numbers are not ten or a count is missing.
    pub fn from_numbers(numbers: &[Option<f64>], industry_risk: String) -> Option<Inputs> {
        let [
            on_time_share,
            arrears_months,
            arrears_ratio,
            max_arrears_days,
            late_fees,
            reversals,
            breaches,
            thefts,
            tenure_months,
            stability,
        ] = numbers.try_into().ok()?;
        let count = |v: Option<f64>| v.map(|x| x as i32);
        Some(Inputs {
            on_time_share,
            arrears_months: count(arrears_months)?,
            arrears_ratio,
            max_arrears_days: count(max_arrears_days)?,
            late_fees: count(late_fees)?,
            reversals: count(reversals)?,
            breaches: count(breaches)?,
            thefts: count(thefts)?,
            tenure_months: count(tenure_months)?,
            stability,
            industry_risk,
        })
    }
}

/// Each step's time of a long credit job, logged for whoever tunes it next
/// (`GRIDCRM_LOG=warn,gridcrm::credit=debug`).
pub(crate) struct Laps {
    job: &'static str,
    since: std::time::Instant,
}

impl Laps {
    pub(crate) fn new(job: &'static str) -> Self {
        Laps { job, since: std::time::Instant::now() }
    }

    pub(crate) fn lap(&mut self, step: &str) {
        tracing::debug!(step, seconds = self.since.elapsed().as_secs_f64(), "{}", self.job);
        self.since = std::time::Instant::now();
    }
}

/// The factors with a numeric input: all of [`FACTORS`] but `industry_risk`, the last.
pub const NUMERIC_FACTORS: usize = FACTORS.len() - 1;

/// A rating's points by factor in [`FACTORS`] order, as its history row
/// keeps them: None for a factor the card does not have (a card's factor
/// outside [`FACTORS`] has no place; the score keeps its points).
pub fn points_in_order(points: &[FactorPoints]) -> [Option<f64>; FACTORS.len()] {
    let mut out = [None; FACTORS.len()];
    for p in points {
        if let Some(i) = FACTORS.iter().position(|f| *f == p.factor) {
            out[i] = Some(p.points);
        }
    }
    out
}

/// The points by factor code from [`points_in_order`]'s array.
pub fn points_by_factor(points: &[Option<f64>]) -> std::collections::HashMap<String, f64> {
    FACTORS.iter().zip(points).filter_map(|(f, p)| p.map(|p| (f.to_string(), p))).collect()
}

fn range(lower: Option<f64>, upper: Option<f64>, points: f64) -> Bin {
    Bin::Range { lower, upper, points }
}

/// Bins over counts: `[0, e1)`, `[e1, e2)`, …, `[last, ∞)`.
fn steps(edges: &[f64], points: &[f64]) -> Vec<Bin> {
    debug_assert_eq!(edges.len() + 1, points.len());
    let mut bins = Vec::with_capacity(points.len());
    let mut lower = None;
    for (i, p) in points.iter().enumerate() {
        let upper = edges.get(i).copied();
        bins.push(range(lower, upper, *p));
        lower = upper;
    }
    bins
}

/// The built-in card. A customer who always pays on time, never owes, has
/// been with the company ten years with steady use in a low-risk industry
/// scores 665; one with persistent arrears 490 (C). One slip (a bill paid
/// about 100 days late in two years) costs about 85 points: from AAA to A.
/// Paying late most months, but paying, leads to B: post-pay against a
/// deposit. What weighs most is how long a debt went unpaid..
pub fn default_card() -> Scorecard {
    let f = |factor: &str, mut bins: Vec<Bin>, missing: Option<f64>| {
        if let Some(points) = missing {
            bins.push(Bin::Missing { points });
        }
        FactorCard { factor: factor.into(), bins }
    };
    Scorecard {
        base: 560.0,
        factors: vec![
            f("on_time_share", steps(&[0.5, 0.8, 0.95], &[-15.0, -5.0, 8.0, 20.0]), Some(0.0)),
            f("arrears_months", steps(&[1.0, 3.0, 6.0], &[15.0, 5.0, -5.0, -10.0]), None),
            f("arrears_ratio", steps(&[0.01, 1.0, 3.0], &[10.0, 5.0, -5.0, -25.0]), Some(0.0)),
            f("max_arrears_days", steps(&[30.0, 90.0, 180.0], &[10.0, 0.0, -25.0, -45.0]), None),
            f("late_fees", steps(&[1.0, 3.0, 6.0], &[10.0, 5.0, 0.0, -10.0]), None),
            f("reversals", steps(&[1.0, 2.0], &[5.0, -5.0, -20.0]), None),
            f("breaches", steps(&[1.0, 2.0], &[5.0, -20.0, -40.0]), None),
            f("thefts", steps(&[1.0], &[5.0, -80.0]), None),
            f("tenure_months", steps(&[12.0, 36.0, 120.0], &[-10.0, 0.0, 5.0, 10.0]), None),
            f("stability", steps(&[0.2, 0.5], &[5.0, 0.0, -10.0]), Some(0.0)),
            FactorCard {
                factor: "industry_risk".into(),
                bins: vec![
                    Bin::Categories { values: vec!["low".into()], points: 10.0 },
                    Bin::Categories { values: vec!["medium".into()], points: 0.0 },
                    Bin::Categories { values: vec!["high".into()], points: -15.0 },
                    Bin::Other { points: 0.0 },
                ],
            },
        ],
    }
}

/// The lowest score of each grade AAA, AA, A and B (below B: C).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bands {
    pub aaa_min: f64,
    pub aa_min: f64,
    pub a_min: f64,
    pub b_min: f64,
}

impl Default for Bands {
    fn default() -> Self {
        Bands { aaa_min: 630.0, aa_min: 605.0, a_min: 575.0, b_min: 540.0 }
    }
}

impl Bands {
    pub fn grade(&self, score: f64) -> &'static str {
        if score >= self.aaa_min {
            "AAA"
        } else if score >= self.aa_min {
            "AA"
        } else if score >= self.a_min {
            "A"
        } else if score >= self.b_min {
            "B"
        } else {
            "C"
        }
    }

    pub fn is_ordered(&self) -> bool {
        self.b_min < self.a_min && self.a_min < self.aa_min && self.aa_min < self.aaa_min
    }
}

/// Higher is better: AAA 4 … C 0; unknown −1.
pub fn grade_rank(grade: &str) -> i32 {
    GRADES.iter().position(|g| *g == grade).map_or(-1, |i| 4 - i as i32)
}

/// The payment method a grade calls for.
pub fn method_for(grade: &str) -> &'static str {
    match grade {
        "AAA" | "AA" | "A" => "post_pay",
        "B" => "post_pay_secured",
        _ => "cost_control",
    }
}

/// How strict a method is: post-pay 0, secured 1, cost control 2.
pub fn method_rank(method: &str) -> i32 {
    METHODS.iter().position(|m| *m == method).map_or(-1, |i| i as i32)
}

/// The deposit or guarantee a secured post-pay needs: `months` average
/// monthly bills, rounded up to the yuan.
pub fn security_required(method: &str, average_bill: f64, months: f64) -> f64 {
    if method == "post_pay_secured" { (average_bill.max(0.0) * months).ceil() } else { 0.0 }
}

/// The rule's reasons for putting a customer on the poor-credit list.
pub const LIST_REASONS: [&str; 2] = ["theft", "grade_c"];

/// Arrears at least this old, with grade C, put a customer on the poor-credit list.
pub const LIST_ARREARS_DAYS: i32 = 90;

/// Whether a rating puts the customer on the poor-credit list, and why
/// (a translation key under `credit.list_reason_`): a theft in the window,
/// or grade C with arrears of 90 days or more (a default, not late paying).
pub fn list_reason(grade: &str, inputs: &Inputs) -> Option<&'static str> {
    if inputs.thefts > 0 {
        Some("theft")
    } else if grade == "C" && inputs.max_arrears_days >= LIST_ARREARS_DAYS {
        Some("grade_c")
    } else {
        None
    }
}

/// What the counter should say when the customer's current method differs
/// from the decision: None when they match. `current` is what the customer
/// has now (cost control agreement, security held, or plain post-pay).
pub fn method_prompt(current: &str, decided: &str) -> Option<&'static str> {
    match method_rank(current).cmp(&method_rank(decided)) {
        std::cmp::Ordering::Less => Some("stricter"),
        std::cmp::Ordering::Greater => Some("looser"),
        std::cmp::Ordering::Equal => None,
    }
}

/// One customer's rating under a card and bands.
#[derive(Clone, Debug, PartialEq)]
pub struct Rating {
    pub score: f64,
    pub grade: &'static str,
    /// Per factor of the card: (factor, bin index, points).
    pub points: Vec<FactorPoints>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FactorPoints {
    pub factor: String,
    pub bin: Option<usize>,
    pub points: f64,
}

/// Scores are kept to two places, as stored.
fn two_places(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn rate(card: &Scorecard, bands: &Bands, inputs: &Inputs) -> Rating {
    let awarded = card.award(|f| inputs.input(f));
    let score = two_places(card.score(&awarded));
    let points = card
        .factors
        .iter()
        .zip(&awarded)
        .map(|(f, a)| FactorPoints { factor: f.factor.clone(), bin: a.bin, points: two_places(a.points) })
        .collect();
    Rating { score, grade: bands.grade(score), points }
}

/// A factor whose points moved since the previous rating: (factor, before, after).
pub fn changes(previous: &[FactorPoints], current: &[FactorPoints]) -> Vec<(String, f64, f64)> {
    current
        .iter()
        .filter_map(|c| {
            let before = previous.iter().find(|p| p.factor == c.factor).map_or(0.0, |p| p.points);
            (before != c.points).then(|| (c.factor.clone(), before, c.points))
        })
        .collect()
}

/// A breach or theft as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EventForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub occurred_on: String,
    #[serde(default)]
    pub evidence: String,
}

/// A checked breach or theft: (kind, day, evidence).
pub type NewEvent = (&'static str, NaiveDate, String);

/// Kind one of [`EVENT_KINDS`], a day no later than today, evidence of 1–2,000 characters.
pub fn check_event(form: &EventForm, today: NaiveDate) -> Result<NewEvent, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = EVENT_KINDS.iter().copied().find(|k| *k == form.kind.trim()).unwrap_or_else(|| {
        errors.add("kind", "credit_event_kind");
        "breach"
    });
    let day = input::date_field(&form.occurred_on, today).unwrap_or_else(|code| {
        errors.add("occurred_on", code);
        today
    });
    let evidence = input::visible_text(&form.evidence, 2000, "evidence", true, &mut errors);
    errors.finish((kind, day, evidence))
}

/// A deposit or guarantee as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SecurityForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub received_on: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewSecurity {
    pub kind: &'static str,
    pub amount: Decimal,
    pub reference: String,
    pub received_on: NaiveDate,
}

pub const SECURITY_KINDS: [&str; 2] = ["deposit", "guarantee"];

/// Kind deposit or guarantee, an amount over zero, a reference (receipt,
/// guarantor or letter number) of 1–200 characters, received no later than today.
pub fn check_security(form: &SecurityForm, today: NaiveDate) -> Result<NewSecurity, FieldErrors> {
    let mut errors = FieldErrors::default();
    let kind = SECURITY_KINDS.iter().copied().find(|k| *k == form.kind.trim()).unwrap_or_else(|| {
        errors.add("kind", "credit_security_kind");
        "deposit"
    });
    let amount = input::positive_money(&form.amount).unwrap_or_else(|| {
        errors.add("amount", "amount_format");
        Decimal::ZERO
    });
    let reference = input::visible_text(&form.reference, 200, "reference", true, &mut errors);
    let received_on = input::date_field(&form.received_on, today).unwrap_or_else(|code| {
        errors.add("received_on", code);
        today
    });
    errors.finish(NewSecurity { kind, amount, reference, received_on })
}

/// A reason typed for a manual change to the list: required, at most 500 characters.
pub fn check_reason(raw: &str) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::default();
    let reason = input::visible_text(raw, 500, "reason", true, &mut errors);
    errors.finish(reason)
}

/// The tenant's credit settings as typed: the grade bands, the deposit rule,
/// how long a manual removal from the list holds, and each industry's risk
/// class (`risk` by industry code).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub aaa_min: String,
    #[serde(default)]
    pub aa_min: String,
    #[serde(default)]
    pub a_min: String,
    #[serde(default)]
    pub b_min: String,
    #[serde(default)]
    pub deposit_months: String,
    #[serde(default)]
    pub list_override_months: String,
    #[serde(flatten)]
    pub risk: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedSettings {
    pub bands: Bands,
    pub deposit_months: f64,
    pub list_override_months: i32,
    /// (industry code, risk class) for every industry named.
    pub risk: Vec<(String, String)>,
}

/// Bands are scores with at most two decimals rising from B to AAA; the
/// deposit 0.5–12 months of bills in halves; the override 1–120 months; a
/// risk class low, medium or high for each `risk_<code>` of `industries`.
pub fn check_settings(form: &SettingsForm, industries: &[String]) -> Result<CheckedSettings, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut score = |field: &'static str, raw: &str| -> f64 {
        match input::plain_decimal(raw, 4, 2).and_then(|d| rust_decimal::prelude::ToPrimitive::to_f64(&d)) {
            Some(v) if (0.0..=2000.0).contains(&v) => v,
            _ => {
                errors.add(field, "credit_band_format");
                0.0
            }
        }
    };
    let bands = Bands {
        aaa_min: score("aaa_min", &form.aaa_min),
        aa_min: score("aa_min", &form.aa_min),
        a_min: score("a_min", &form.a_min),
        b_min: score("b_min", &form.b_min),
    };
    if errors.is_empty() && !bands.is_ordered() {
        errors.add("aa_min", "credit_bands_order");
    }
    let deposit_months = match input::plain_decimal(&form.deposit_months, 2, 1) {
        Some(d) if d >= Decimal::new(5, 1) && d <= Decimal::from(12) => {
            rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(2.0)
        }
        _ => {
            errors.add("deposit_months", "credit_deposit_months");
            2.0
        }
    };
    let list_override_months = match form.list_override_months.trim().parse::<i32>() {
        Ok(m) if (1..=120).contains(&m) => m,
        _ => {
            errors.add("list_override_months", "whole_number_range");
            12
        }
    };
    let mut risk = Vec::new();
    for code in industries {
        let field = format!("risk_{code}");
        match form.risk.get(&field).map(|v| v.trim()) {
            Some(class) if RISK_CLASSES.contains(&class) => risk.push((code.clone(), class.to_owned())),
            _ => errors.add(field, "unknown_code"),
        }
    }
    errors.finish(CheckedSettings { bands, deposit_months, list_override_months, risk })
}

/// An industry's risk class: the tenant's own, else the built-in one, else medium.
pub fn industry_risk<'a>(code: &str, own: &'a [(String, String)]) -> &'a str {
    own.iter()
        .find(|(c, _)| c == code)
        .map(|(_, r)| r.as_str())
        .or_else(|| DEFAULT_INDUSTRY_RISK.iter().find(|(c, _)| *c == code).map(|(_, r)| *r))
        .unwrap_or("medium")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exemplary() -> Inputs {
        Inputs {
            on_time_share: Some(1.0),
            arrears_months: 0,
            arrears_ratio: Some(0.0),
            max_arrears_days: 0,
            late_fees: 0,
            reversals: 0,
            breaches: 0,
            thefts: 0,
            tenure_months: 120,
            stability: Some(0.1),
            industry_risk: "low".into(),
        }
    }

    fn persistent_arrears() -> Inputs {
        Inputs {
            on_time_share: Some(0.2),
            arrears_months: 12,
            arrears_ratio: Some(4.0),
            max_arrears_days: 120,
            late_fees: 10,
            tenure_months: 24,
            stability: Some(0.3),
            industry_risk: "medium".into(),
            ..exemplary()
        }
    }

    fn points_of(r: &Rating, factor: &str) -> f64 {
        r.points.iter().find(|p| p.factor == factor).unwrap().points
    }

    #[test]
    fn inputs_and_points_round_trip_through_the_history_arrays() {
        let missing = Inputs { on_time_share: None, arrears_ratio: None, stability: None, ..persistent_arrears() };
        for inputs in [exemplary(), persistent_arrears(), missing] {
            let numbers = inputs.numbers();
            assert_eq!(Inputs::from_numbers(&numbers, inputs.industry_risk.clone()), Some(inputs));
        }
        // Not ten numbers, or a count missing: not inputs.
        assert_eq!(Inputs::from_numbers(&[Some(1.0); 9], "low".into()), None);
        let mut numbers = exemplary().numbers();
        numbers[1] = None;
        assert_eq!(Inputs::from_numbers(&numbers, "low".into()), None);

        let rating = rate(&default_card(), &Bands::default(), &persistent_arrears());
        let stored = points_in_order(&rating.points);
        assert_eq!(stored.len(), FACTORS.len());
        let back = points_by_factor(&stored);
        assert_eq!(back.len(), FACTORS.len());
        for p in &rating.points {
            assert_eq!(back[&p.factor], p.points, "{}", p.factor);
        }
        // A card without some factors: those have no points, the rest keep their place.
        let only = vec![FactorPoints { factor: "thefts".into(), bin: Some(0), points: 5.0 }];
        let stored = points_in_order(&only);
        assert_eq!(stored[7], Some(5.0));
        assert_eq!(stored.iter().flatten().count(), 1);
        assert_eq!(points_by_factor(&stored), [("thefts".to_string(), 5.0)].into_iter().collect());
    }

    #[test]
    fn the_default_card_rates_the_extremes_as_documented() {
        let card = default_card();
        let bands = Bands::default();
        let best = rate(&card, &bands, &exemplary());
        assert_eq!((best.score, best.grade), (665.0, "AAA"));
        let worst = rate(&card, &bands, &persistent_arrears());
        assert_eq!((worst.score, worst.grade), (490.0, "C"));
        assert_eq!(card.factors.iter().map(|f| f.factor.as_str()).collect::<Vec<_>>(), FACTORS);
    }

    /// Each factor at the edges of its bins: the lower edge belongs to the
    /// bin above it.
    #[test]
    fn every_factor_at_its_edges() {
        let card = default_card();
        let bands = Bands::default();
        let at = |change: &dyn Fn(&mut Inputs), factor: &str| {
            let mut i = exemplary();
            change(&mut i);
            points_of(&rate(&card, &bands, &i), factor)
        };
        assert_eq!(at(&|i| i.on_time_share = Some(0.95), "on_time_share"), 20.0);
        assert_eq!(at(&|i| i.on_time_share = Some(0.9499), "on_time_share"), 8.0);
        assert_eq!(at(&|i| i.on_time_share = Some(0.8), "on_time_share"), 8.0);
        assert_eq!(at(&|i| i.on_time_share = Some(0.5), "on_time_share"), -5.0);
        assert_eq!(at(&|i| i.on_time_share = Some(0.4999), "on_time_share"), -15.0);
        assert_eq!(at(&|i| i.on_time_share = None, "on_time_share"), 0.0);
        assert_eq!(at(&|i| i.arrears_months = 1, "arrears_months"), 5.0);
        assert_eq!(at(&|i| i.arrears_months = 2, "arrears_months"), 5.0);
        assert_eq!(at(&|i| i.arrears_months = 3, "arrears_months"), -5.0);
        assert_eq!(at(&|i| i.arrears_months = 6, "arrears_months"), -10.0);
        assert_eq!(at(&|i| i.arrears_ratio = Some(0.0099), "arrears_ratio"), 10.0);
        assert_eq!(at(&|i| i.arrears_ratio = Some(0.01), "arrears_ratio"), 5.0);
        assert_eq!(at(&|i| i.arrears_ratio = Some(3.0), "arrears_ratio"), -25.0);
        assert_eq!(at(&|i| i.arrears_ratio = None, "arrears_ratio"), 0.0);
        assert_eq!(at(&|i| i.max_arrears_days = 29, "max_arrears_days"), 10.0);
        assert_eq!(at(&|i| i.max_arrears_days = 30, "max_arrears_days"), 0.0);
        assert_eq!(at(&|i| i.max_arrears_days = 90, "max_arrears_days"), -25.0);
        assert_eq!(at(&|i| i.max_arrears_days = 180, "max_arrears_days"), -45.0);
        assert_eq!(at(&|i| i.late_fees = 1, "late_fees"), 5.0);
        assert_eq!(at(&|i| i.late_fees = 3, "late_fees"), 0.0);
        assert_eq!(at(&|i| i.late_fees = 6, "late_fees"), -10.0);
        assert_eq!(at(&|i| i.reversals = 1, "reversals"), -5.0);
        assert_eq!(at(&|i| i.reversals = 2, "reversals"), -20.0);
        assert_eq!(at(&|i| i.breaches = 1, "breaches"), -20.0);
        assert_eq!(at(&|i| i.breaches = 2, "breaches"), -40.0);
        assert_eq!(at(&|i| i.thefts = 1, "thefts"), -80.0);
        assert_eq!(at(&|i| i.tenure_months = 0, "tenure_months"), -10.0);
        assert_eq!(at(&|i| i.tenure_months = 12, "tenure_months"), 0.0);
        assert_eq!(at(&|i| i.tenure_months = 36, "tenure_months"), 5.0);
        assert_eq!(at(&|i| i.stability = Some(0.2), "stability"), 0.0);
        assert_eq!(at(&|i| i.stability = Some(0.5), "stability"), -10.0);
        assert_eq!(at(&|i| i.stability = None, "stability"), 0.0);
        assert_eq!(at(&|i| i.industry_risk = "high".into(), "industry_risk"), -15.0);
        assert_eq!(at(&|i| i.industry_risk = "medium".into(), "industry_risk"), 0.0);
        assert_eq!(at(&|i| i.industry_risk = "unheard".into(), "industry_risk"), 0.0);
    }

    #[test]
    fn grade_bands_start_at_their_minimum() {
        let b = Bands::default();
        assert_eq!(b.grade(630.0), "AAA");
        assert_eq!(b.grade(629.99), "AA");
        assert_eq!(b.grade(605.0), "AA");
        assert_eq!(b.grade(575.0), "A");
        assert_eq!(b.grade(574.99), "B");
        assert_eq!(b.grade(540.0), "B");
        assert_eq!(b.grade(539.99), "C");
        assert!(b.is_ordered());
        assert!(!Bands { aa_min: 640.0, ..b }.is_ordered());
        assert_eq!(GRADES.map(grade_rank), [4, 3, 2, 1, 0]);
    }

    #[test]
    fn the_grade_decides_the_payment_method_and_the_security() {
        assert_eq!(GRADES.map(method_for), ["post_pay", "post_pay", "post_pay", "post_pay_secured", "cost_control"]);
        assert_eq!(security_required("post_pay_secured", 1234.01, 2.0), 2469.0);
        assert_eq!(security_required("post_pay", 1234.01, 2.0), 0.0);
        assert_eq!(security_required("post_pay_secured", -5.0, 2.0), 0.0);
        assert_eq!(method_prompt("post_pay", "cost_control"), Some("stricter"));
        assert_eq!(method_prompt("cost_control", "post_pay"), Some("looser"));
        assert_eq!(method_prompt("post_pay_secured", "post_pay_secured"), None);
    }

    #[test]
    fn theft_or_grade_c_puts_a_customer_on_the_list() {
        assert_eq!(list_reason("AAA", &exemplary()), None);
        assert_eq!(list_reason("C", &exemplary()), None, "grade C without a default: cost control, not the list");
        assert_eq!(list_reason("C", &Inputs { max_arrears_days: 89, ..exemplary() }), None);
        assert_eq!(list_reason("C", &Inputs { max_arrears_days: 90, ..exemplary() }), Some("grade_c"));
        assert_eq!(list_reason("AA", &Inputs { thefts: 1, ..exemplary() }), Some("theft"));
    }

    #[test]
    fn changes_name_the_factors_that_moved() {
        let card = default_card();
        let before = rate(&card, &Bands::default(), &exemplary());
        let after = rate(&card, &Bands::default(), &Inputs { late_fees: 3, ..exemplary() });
        assert_eq!(changes(&before.points, &after.points), vec![("late_fees".to_string(), 10.0, 0.0)]);
        assert!(changes(&before.points, &before.points).is_empty());
    }

    #[test]
    fn event_and_security_forms_name_each_wrong_field() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let good = EventForm {
            kind: "theft".into(),
            occurred_on: "2026-11-30".into(),
            evidence: " meter seal broken ".into(),
        };
        assert_eq!(
            check_event(&good, today).unwrap(),
            ("theft", NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(), "meter seal broken".into())
        );
        let bad = EventForm { kind: "fraud".into(), occurred_on: "2026-12-03".into(), evidence: "  ".into() };
        let errors = check_event(&bad, today).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code)).collect::<Vec<_>>(),
            [("kind", "credit_event_kind"), ("occurred_on", "date_too_late"), ("evidence", "required")]
        );
        let security = SecurityForm {
            kind: "deposit".into(),
            amount: "2469".into(),
            reference: "R-1".into(),
            received_on: "2026-12-02".into(),
        };
        assert_eq!(check_security(&security, today).unwrap().amount, Decimal::from(2469));
        let bad =
            SecurityForm { kind: "cash".into(), amount: "0".into(), reference: "".into(), received_on: "".into() };
        let errors = check_security(&bad, today).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code)).collect::<Vec<_>>(),
            [
                ("kind", "credit_security_kind"),
                ("amount", "amount_format"),
                ("reference", "required"),
                ("received_on", "required")
            ]
        );
        assert!(check_reason("").is_err());
        assert_eq!(check_reason(" paid in full ").unwrap(), "paid in full");
    }

    #[test]
    fn settings_name_each_wrong_field() {
        let industries = vec!["RES".to_string(), "C31".to_string()];
        let mut form = SettingsForm {
            aaa_min: "630".into(),
            aa_min: "605".into(),
            a_min: "575.5".into(),
            b_min: "540".into(),
            deposit_months: "1.5".into(),
            list_override_months: "12".into(),
            risk: [("risk_RES".to_string(), "low".to_string()), ("risk_C31".to_string(), "high".to_string())].into(),
        };
        let ok = check_settings(&form, &industries).unwrap();
        assert_eq!((ok.bands.a_min, ok.deposit_months), (575.5, 1.5));
        assert_eq!(ok.risk, vec![("RES".to_string(), "low".to_string()), ("C31".to_string(), "high".to_string())]);
        form.aa_min = "650".into();
        form.deposit_months = "0.25".into();
        form.risk.insert("risk_C31".into(), "extreme".into());
        let errors = check_settings(&form, &industries).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| (e.field.as_str(), e.code)).collect::<Vec<_>>(),
            [
                ("aa_min", "credit_bands_order"),
                ("deposit_months", "credit_deposit_months"),
                ("risk_C31", "unknown_code")
            ]
        );
        assert_eq!(industry_risk("C31", &[]), "high");
        assert_eq!(industry_risk("C31", &[("C31".into(), "low".into())]), "low");
        assert_eq!(industry_risk("ZZZ", &[]), "medium");
    }
}
