//! Value tiers (客户价值分级): every customer's tier (vip, high, medium, low,
//! negative) from a per-tenant weighted score of five factors, each worth
//! 0–100 points, over the last twelve complete months of customer metrics:
//!
//! - consumption: the customer's 12-month energy as a percentile rank within
//!   the tenant (the top customer 100, the bottom 0);
//! - revenue: the 12-month amount billed, ranked the same way;
//! - payment: the share of the year's payments made by the due date (100 when
//!   nothing was due, 0 when nothing was paid but arrears stand), less one
//!   point per three days of the longest arrears in the year (at most 40) and
//!   five per late fee (at most 30), never below 0;
//! - social importance: the importance grade (special 100, first 80,
//!   second 50, temporary 20, none 0);
//! - growth: 12-month energy against the twelve months before, −20 % → 0,
//!   0 → 50, +20 % → 100, clamped; 50 when there is no earlier year.
//!
//! Score = Σ weight × points / 100 (the weights sum to 100), to two places.
//! Tier: vip from `vip_min`, high from `high_min`, medium from `medium_min`,
//! else low. Negative overrides the score when arrears are persistent: the
//! latest month's oldest overdue bill is `negative_arrears_days` old or more,
//! or arrears stood at three or more of the last six month ends. (Theft will
//! be a second negative reason once the credit issue records it.) A manual VIP
//! designation (with its reason) makes the tier vip whatever the score.
//!
//! The bulk computation is SQL (`gridcrm_value_scores` in migration 0022);
//! [`score`] is the same rule for one customer, and the integration tests
//! check that they agree.

pub mod api;
pub mod db;
pub mod pages;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::web::error::FieldErrors;

/// The tiers, best first.
pub const TIERS: [&str; 5] = ["vip", "high", "medium", "low", "negative"];
pub const FACTORS: [&str; 5] = ["consumption", "revenue", "payment", "importance", "growth"];
/// Tier movements the VIP list filters by.
pub const MOVEMENTS: [&str; 3] = ["up", "down", "new"];
/// The tag the green channel follows (work_orders::model::VIP_TAG).
pub const VIP_TAG: &str = crate::work_orders::model::VIP_TAG;

/// Higher is better: vip 4 … negative 0; unknown codes −1.
pub fn tier_rank(tier: &str) -> i32 {
    match tier {
        "vip" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        "negative" => 0,
        _ => -1,
    }
}

/// up, down or new (no earlier tier); None when it has not moved.
pub fn movement(previous: Option<&str>, tier: &str) -> Option<&'static str> {
    match previous {
        None => Some("new"),
        Some(p) if tier_rank(tier) > tier_rank(p) => Some("up"),
        Some(p) if tier_rank(tier) < tier_rank(p) => Some("down"),
        Some(_) => None,
    }
}

/// A tenant's weights and thresholds (value_settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    pub weight_consumption: i16,
    pub weight_revenue: i16,
    pub weight_payment: i16,
    pub weight_importance: i16,
    pub weight_growth: i16,
    pub vip_min: i16,
    pub high_min: i16,
    pub medium_min: i16,
    pub negative_arrears_days: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            weight_consumption: 30,
            weight_revenue: 25,
            weight_payment: 20,
            weight_importance: 15,
            weight_growth: 10,
            vip_min: 85,
            high_min: 65,
            medium_min: 40,
            negative_arrears_days: 90,
        }
    }
}

impl Settings {
    pub fn weights(&self) -> [i16; 5] {
        [self.weight_consumption, self.weight_revenue, self.weight_payment, self.weight_importance, self.weight_growth]
    }
}

/// The settings form as typed (every field text, so a bad value can be shown back).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub weight_consumption: String,
    #[serde(default)]
    pub weight_revenue: String,
    #[serde(default)]
    pub weight_payment: String,
    #[serde(default)]
    pub weight_importance: String,
    #[serde(default)]
    pub weight_growth: String,
    #[serde(default)]
    pub vip_min: String,
    #[serde(default)]
    pub high_min: String,
    #[serde(default)]
    pub medium_min: String,
    #[serde(default)]
    pub negative_arrears_days: String,
}

impl From<&Settings> for SettingsForm {
    fn from(s: &Settings) -> Self {
        SettingsForm {
            weight_consumption: s.weight_consumption.to_string(),
            weight_revenue: s.weight_revenue.to_string(),
            weight_payment: s.weight_payment.to_string(),
            weight_importance: s.weight_importance.to_string(),
            weight_growth: s.weight_growth.to_string(),
            vip_min: s.vip_min.to_string(),
            high_min: s.high_min.to_string(),
            medium_min: s.medium_min.to_string(),
            negative_arrears_days: s.negative_arrears_days.to_string(),
        }
    }
}

/// Checks the form: each weight 0–100 and together 100 (the error is on every
/// weight field then), thresholds whole points with 0 < medium < high < vip ≤ 100,
/// arrears days 1–3650.
pub fn validate(form: &SettingsForm) -> Result<Settings, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut whole = |field: &'static str, raw: &str, min: i32, max: i32, code: &'static str| -> i32 {
        match raw.trim().parse::<i32>() {
            Ok(v) if (min..=max).contains(&v) => v,
            _ => {
                errors.add(field, code);
                min
            }
        }
    };
    let weights = [
        whole("weight_consumption", &form.weight_consumption, 0, 100, "whole_number_range"),
        whole("weight_revenue", &form.weight_revenue, 0, 100, "whole_number_range"),
        whole("weight_payment", &form.weight_payment, 0, 100, "whole_number_range"),
        whole("weight_importance", &form.weight_importance, 0, 100, "whole_number_range"),
        whole("weight_growth", &form.weight_growth, 0, 100, "whole_number_range"),
    ];
    let vip_min = whole("vip_min", &form.vip_min, 1, 100, "whole_number_range");
    let high_min = whole("high_min", &form.high_min, 1, 100, "whole_number_range");
    let medium_min = whole("medium_min", &form.medium_min, 1, 100, "whole_number_range");
    let negative_arrears_days =
        whole("negative_arrears_days", &form.negative_arrears_days, 1, 3650, "whole_number_range");
    if errors.is_empty() {
        if weights.iter().sum::<i32>() != 100 {
            for f in ["weight_consumption", "weight_revenue", "weight_payment", "weight_importance", "weight_growth"] {
                errors.add(f, "value_weights_sum");
            }
        }
        if high_min >= vip_min {
            errors.add("high_min", "value_thresholds_order");
        }
        if medium_min >= high_min {
            errors.add("medium_min", "value_thresholds_order");
        }
    }
    let [wc, wr, wp, wi, wg] = weights.map(|w| w as i16);
    errors.finish(Settings {
        weight_consumption: wc,
        weight_revenue: wr,
        weight_payment: wp,
        weight_importance: wi,
        weight_growth: wg,
        vip_min: vip_min as i16,
        high_min: high_min as i16,
        medium_min: medium_min as i16,
        negative_arrears_days,
    })
}

/// What the score reads for one customer (stored in customer_values.factors).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Inputs {
    /// kWh over the last twelve complete months.
    pub energy_12m: Decimal,
    /// Percentile rank of that energy within the tenant, 0–1 (four places).
    pub energy_pct: Decimal,
    /// Billed over the twelve months, yuan.
    pub revenue_12m: Decimal,
    pub revenue_pct: Decimal,
    /// Of the twelve months' bills: paid by the due date, and after it.
    pub paid_on_time: Decimal,
    pub paid_late: Decimal,
    /// The longest arrears in days at any month end of the twelve.
    pub max_arrears_days: i32,
    pub late_fees: i32,
    /// Overdue and unpaid at the latest month's end, and its oldest bill's age.
    pub arrears: Decimal,
    pub latest_arrears_days: i32,
    /// Month ends of the last six with arrears standing.
    pub arrears_months: i32,
    /// special, first, second, temporary or none.
    pub importance: Option<String>,
    /// kWh in the twelve months before (None: no data then).
    pub energy_prev_12m: Option<Decimal>,
    /// energy_12m / energy_prev_12m − 1, four places.
    pub growth: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FactorScore {
    /// consumption, revenue, payment, importance or growth.
    pub factor: &'static str,
    /// 0–100.
    pub points: Decimal,
    /// Out of 100.
    pub weight: i16,
    /// points × weight / 100: what the factor adds to the score.
    pub contribution: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Valuation {
    pub factors: Vec<FactorScore>,
    pub score: Decimal,
    /// The tier the score gives (before a manual VIP designation).
    pub tier: &'static str,
    /// Why the tier is negative: latest_arrears or arrears_months.
    pub negative_reason: Option<&'static str>,
}

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn round4(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
}

/// Growth of 12-month energy against the year before, four places (None without an earlier year).
pub fn growth(energy_12m: Decimal, energy_prev_12m: Option<Decimal>) -> Option<Decimal> {
    energy_prev_12m.filter(|p| *p > Decimal::ZERO).map(|p| round4(energy_12m / p - Decimal::ONE))
}

pub fn importance_points(grade: Option<&str>) -> Decimal {
    Decimal::from(match grade {
        Some("special") => 100,
        Some("first") => 80,
        Some("second") => 50,
        Some("temporary") => 20,
        _ => 0,
    })
}

pub fn payment_points(i: &Inputs) -> Decimal {
    let paid = i.paid_on_time + i.paid_late;
    let base = if paid > Decimal::ZERO {
        round2(Decimal::ONE_HUNDRED * i.paid_on_time / paid)
    } else if i.arrears > Decimal::ZERO {
        Decimal::ZERO
    } else {
        Decimal::ONE_HUNDRED
    };
    let arrears_penalty = (i.max_arrears_days.max(0) / 3).min(40);
    let late_fee_penalty = i.late_fees.max(0).saturating_mul(5).min(30);
    (base - Decimal::from(arrears_penalty) - Decimal::from(late_fee_penalty)).max(Decimal::ZERO)
}

/// −20 % → 0, 0 → 50, +20 % → 100, clamped; 50 without an earlier year.
pub fn growth_points(growth: Option<Decimal>) -> Decimal {
    match growth {
        None => Decimal::from(50),
        Some(g) => round2((Decimal::from(250) * g + Decimal::from(50)).clamp(Decimal::ZERO, Decimal::ONE_HUNDRED)),
    }
}

/// The tier a score gives under the thresholds (no negative override).
pub fn tier_for(score: Decimal, s: &Settings) -> &'static str {
    if score >= Decimal::from(s.vip_min) {
        "vip"
    } else if score >= Decimal::from(s.high_min) {
        "high"
    } else if score >= Decimal::from(s.medium_min) {
        "medium"
    } else {
        "low"
    }
}

/// The score, its factors and the tier of one customer.
pub fn score(i: &Inputs, s: &Settings) -> Valuation {
    let points = [
        i.energy_pct * Decimal::ONE_HUNDRED,
        i.revenue_pct * Decimal::ONE_HUNDRED,
        payment_points(i),
        importance_points(i.importance.as_deref()),
        growth_points(i.growth),
    ];
    let factors: Vec<FactorScore> = FACTORS
        .iter()
        .zip(points)
        .zip(s.weights())
        .map(|((factor, points), weight)| FactorScore {
            factor,
            points,
            weight,
            contribution: points * Decimal::from(weight) / Decimal::ONE_HUNDRED,
        })
        .collect();
    let score =
        round2(factors.iter().map(|f| f.points * Decimal::from(f.weight)).sum::<Decimal>() / Decimal::ONE_HUNDRED);
    let negative_reason = if i.latest_arrears_days >= s.negative_arrears_days {
        Some("latest_arrears")
    } else if i.arrears_months >= 3 {
        Some("arrears_months")
    } else {
        None
    };
    let tier = if negative_reason.is_some() { "negative" } else { tier_for(score, s) };
    Valuation { factors, score, tier, negative_reason }
}

/// One line of the explanation: a translation key and the values it names.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub factor: &'static str,
    /// `value.explain_<factor>[_variant]`, with %{…} placeholders.
    pub key: String,
    pub values: Vec<(&'static str, String)>,
    pub points: Decimal,
    pub weight: i16,
    pub contribution: Decimal,
}

/// Each factor's input in words, with its points, weight and contribution.
pub fn explain(i: &Inputs, v: &Valuation) -> Vec<Line> {
    let pct = |p: Decimal| round2(p * Decimal::ONE_HUNDRED).normalize().to_string();
    v.factors
        .iter()
        .map(|f| {
            let (key, values): (&str, Vec<(&'static str, String)>) = match f.factor {
                "consumption" => {
                    ("consumption", vec![("energy", i.energy_12m.normalize().to_string()), ("pct", pct(i.energy_pct))])
                }
                "revenue" => {
                    ("revenue", vec![("amount", i.revenue_12m.normalize().to_string()), ("pct", pct(i.revenue_pct))])
                }
                "payment" => {
                    let paid = i.paid_on_time + i.paid_late;
                    let share = if paid > Decimal::ZERO { pct(i.paid_on_time / paid) } else { "—".to_owned() };
                    (
                        if paid > Decimal::ZERO {
                            "payment"
                        } else if i.arrears > Decimal::ZERO {
                            "payment_unpaid"
                        } else {
                            "payment_nothing_due"
                        },
                        vec![
                            ("share", share),
                            ("days", i.max_arrears_days.to_string()),
                            ("fees", i.late_fees.to_string()),
                        ],
                    )
                }
                "importance" => {
                    ("importance", vec![("grade", i.importance.clone().unwrap_or_else(|| "none".to_owned()))])
                }
                _ => match i.growth {
                    Some(g) => ("growth", vec![("growth", pct(g))]),
                    None => ("growth_unknown", vec![]),
                },
            };
            Line {
                factor: f.factor,
                key: format!("value.explain_{key}"),
                values,
                points: f.points,
                weight: f.weight,
                contribution: f.contribution,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn steady_big_payer() -> Inputs {
        Inputs {
            energy_12m: dec!(1200000),
            energy_pct: dec!(0.98),
            revenue_12m: dec!(900000),
            revenue_pct: dec!(0.97),
            paid_on_time: dec!(900000),
            paid_late: dec!(0),
            importance: Some("first".into()),
            energy_prev_12m: Some(dec!(1000000)),
            growth: growth(dec!(1200000), Some(dec!(1000000))),
            ..Default::default()
        }
    }

    #[test]
    fn a_large_punctual_growing_customer_is_vip() {
        let v = score(&steady_big_payer(), &Settings::default());
        let points: Vec<Decimal> = v.factors.iter().map(|f| f.points).collect();
        assert_eq!(points, [dec!(98), dec!(97), dec!(100), dec!(80), dec!(100)]);
        // 30×98 + 25×97 + 20×100 + 15×80 + 10×100 = 9565 → 95.65
        assert_eq!(v.score, dec!(95.65));
        assert_eq!(v.tier, "vip");
        assert_eq!(v.negative_reason, None);
        assert_eq!(v.factors.iter().map(|f| f.contribution).sum::<Decimal>(), v.score);
    }

    #[test]
    fn tiers_follow_the_thresholds() {
        let s = Settings::default();
        assert_eq!(tier_for(dec!(85), &s), "vip");
        assert_eq!(tier_for(dec!(84.99), &s), "high");
        assert_eq!(tier_for(dec!(65), &s), "high");
        assert_eq!(tier_for(dec!(40), &s), "medium");
        assert_eq!(tier_for(dec!(39.99), &s), "low");
        let small = Inputs { energy_pct: dec!(0.1), revenue_pct: dec!(0.1), ..Default::default() };
        // 30×10 + 25×10 + 20×100 + 15×0 + 10×50 = 3050 → 30.5
        let v = score(&small, &s);
        assert_eq!((v.score, v.tier), (dec!(30.5), "low"));
    }

    #[test]
    fn persistent_arrears_make_a_customer_negative_whatever_the_score() {
        let s = Settings::default();
        let old_debt = Inputs { latest_arrears_days: 90, arrears: dec!(5000), ..steady_big_payer() };
        let v = score(&old_debt, &s);
        assert_eq!((v.tier, v.negative_reason), ("negative", Some("latest_arrears")));
        assert!(v.score > dec!(80), "the score itself still shows: {}", v.score);
        let often_behind = Inputs { arrears_months: 3, ..steady_big_payer() };
        assert_eq!(score(&often_behind, &s).negative_reason, Some("arrears_months"));
        let twice = Inputs { arrears_months: 2, latest_arrears_days: 89, ..steady_big_payer() };
        assert_eq!(score(&twice, &s).tier, "vip");
    }

    #[test]
    fn payment_points_are_the_on_time_share_less_penalties() {
        let base = Inputs { paid_on_time: dec!(750), paid_late: dec!(250), ..Default::default() };
        assert_eq!(payment_points(&base), dec!(75));
        let late = Inputs { max_arrears_days: 31, late_fees: 2, ..base.clone() };
        assert_eq!(payment_points(&late), dec!(75) - dec!(10) - dec!(10));
        let worst = Inputs { max_arrears_days: 400, late_fees: 20, ..base.clone() };
        assert_eq!(payment_points(&worst), dec!(5), "penalties are capped at 40 and 30");
        let third = Inputs { paid_on_time: dec!(1), paid_late: dec!(2), ..Default::default() };
        assert_eq!(payment_points(&third), dec!(33.33));
        assert_eq!(payment_points(&Inputs::default()), dec!(100), "nothing was due");
        assert_eq!(payment_points(&Inputs { arrears: dec!(10), ..Default::default() }), dec!(0), "nothing paid, owing");
    }

    #[test]
    fn growth_maps_minus_20_to_plus_20_percent_onto_0_to_100() {
        assert_eq!(growth_points(Some(dec!(-0.2))), dec!(0));
        assert_eq!(growth_points(Some(dec!(-0.5))), dec!(0));
        assert_eq!(growth_points(Some(dec!(0))), dec!(50));
        assert_eq!(growth_points(Some(dec!(0.1))), dec!(75));
        assert_eq!(growth_points(Some(dec!(0.0001))), dec!(50.03), "50.025 rounds half away from zero");
        assert_eq!(growth_points(Some(dec!(0.35))), dec!(100));
        assert_eq!(growth_points(None), dec!(50));
        assert_eq!(growth(dec!(110), Some(dec!(100))), Some(dec!(0.1)));
        assert_eq!(growth(dec!(110), Some(dec!(0))), None);
        assert_eq!(growth(dec!(2), Some(dec!(3))), Some(dec!(-0.3333)));
    }

    #[test]
    fn importance_grades_have_fixed_points() {
        let grades = [Some("special"), Some("first"), Some("second"), Some("temporary"), None];
        let points: Vec<Decimal> = grades.iter().map(|g| importance_points(*g)).collect();
        assert_eq!(points, [dec!(100), dec!(80), dec!(50), dec!(20), dec!(0)]);
    }

    #[test]
    fn the_explanation_names_every_factor_with_its_input() {
        let i = steady_big_payer();
        let v = score(&i, &Settings::default());
        let lines = explain(&i, &v);
        let factors: Vec<&str> = lines.iter().map(|l| l.factor).collect();
        assert_eq!(factors, FACTORS);
        assert_eq!(lines[0].key, "value.explain_consumption");
        assert!(lines[0].values.contains(&("pct", "98".to_owned())), "{:?}", lines[0].values);
        assert!(lines[2].values.contains(&("share", "100".to_owned())));
        assert!(lines[3].values.contains(&("grade", "first".to_owned())));
        assert!(lines[4].values.contains(&("growth", "20".to_owned())));
        assert_eq!(lines[4].contribution, dec!(10));
        let newcomer = Inputs::default();
        let lines = explain(&newcomer, &score(&newcomer, &Settings::default()));
        assert_eq!(lines[2].key, "value.explain_payment_nothing_due");
        assert_eq!(lines[4].key, "value.explain_growth_unknown");
    }

    #[test]
    fn settings_must_sum_to_100_with_ordered_thresholds() {
        let ok = SettingsForm::from(&Settings::default());
        assert_eq!(validate(&ok).ok(), Some(Settings::default()));
        let over = SettingsForm { weight_growth: "11".into(), ..ok.clone() };
        let errors = validate(&over).unwrap_err();
        assert!(errors.has("weight_consumption") && errors.has("weight_growth"));
        assert_eq!(errors.iter().next().unwrap().code, "value_weights_sum");
        let unordered = SettingsForm { high_min: "90".into(), ..ok.clone() };
        assert!(validate(&unordered).unwrap_err().has("high_min"));
        let unordered = SettingsForm { medium_min: "65".into(), ..ok.clone() };
        assert!(validate(&unordered).unwrap_err().has("medium_min"));
        let junk =
            SettingsForm { weight_revenue: "x".into(), vip_min: "101".into(), negative_arrears_days: "0".into(), ..ok };
        let errors = validate(&junk).unwrap_err();
        assert!(errors.has("weight_revenue") && errors.has("vip_min") && errors.has("negative_arrears_days"));
    }

    #[test]
    fn movement_compares_tier_ranks() {
        assert_eq!(movement(None, "low"), Some("new"));
        assert_eq!(movement(Some("high"), "vip"), Some("up"));
        assert_eq!(movement(Some("low"), "negative"), Some("down"));
        assert_eq!(movement(Some("medium"), "medium"), None);
    }
}
