//! The tenant admin's tariff and billing-settings forms, checked field by
//! field. A tariff is changed by adding a version from a date: issued bills
//! keep their own lines, so no change ever rewrites one. Pure.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::web::{error::FieldErrors, input};

pub const ENERGY_KINDS: [&str; 2] = ["flat", "time_of_use"];
pub const BASIC_KINDS: [&str; 2] = ["per_kva", "per_kw_demand"];
pub const PF_STANDARDS: [&str; 3] = ["0.90", "0.85", "0.80"];

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct VersionForm {
    #[serde(default)]
    pub tariff_code: String,
    #[serde(default)]
    pub effective_from: String,
    #[serde(default)]
    pub energy_kind: String,
    #[serde(default)]
    pub flat_price: String,
    #[serde(default)]
    pub peak_price: String,
    #[serde(default)]
    pub valley_price: String,
    #[serde(default)]
    pub tier1_yearly_kwh: String,
    #[serde(default)]
    pub tier2_yearly_kwh: String,
    #[serde(default)]
    pub tier2_surcharge: String,
    #[serde(default)]
    pub tier3_surcharge: String,
    #[serde(default)]
    pub basic_kind: String,
    #[serde(default)]
    pub basic_price: String,
    #[serde(default)]
    pub power_factor_standard: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewVersion {
    pub tariff_code: String,
    pub effective_from: NaiveDate,
    pub energy_kind: String,
    pub flat_price: Decimal,
    pub peak_price: Option<Decimal>,
    pub valley_price: Option<Decimal>,
    pub tier1_yearly_kwh: Option<Decimal>,
    pub tier2_yearly_kwh: Option<Decimal>,
    pub tier2_surcharge: Option<Decimal>,
    pub tier3_surcharge: Option<Decimal>,
    pub basic_kind: Option<String>,
    pub basic_price: Option<Decimal>,
    pub power_factor_standard: Option<Decimal>,
}

/// A non-negative plain decimal with at most `scale` places, below 10⁸; None when empty.
fn number(raw: &str, scale: u32, field: &str, errors: &mut FieldErrors) -> Option<Decimal> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match input::plain_decimal(raw, 8, scale as usize) {
        Some(v) if v >= Decimal::ZERO => Some(v),
        _ => {
            errors.add(field, "price_format");
            None
        }
    }
}

/// `codes`: the tenant's tariff categories. `today`: a version may not start
/// in the past, where bills may already have used the old one.
pub fn parse_version(f: &VersionForm, codes: &[String], today: NaiveDate) -> Result<NewVersion, FieldErrors> {
    let mut e = FieldErrors::default();
    if !codes.contains(&f.tariff_code) {
        e.add("tariff_code", "unknown_code");
    }
    let effective_from = NaiveDate::parse_from_str(f.effective_from.trim(), "%Y-%m-%d").ok();
    match effective_from {
        None => e.add("effective_from", "date_format"),
        Some(d) if d < today => e.add("effective_from", "tariff_in_past"),
        Some(d) if d > input::LATEST => e.add("effective_from", "date_too_late"),
        Some(_) => {}
    }
    if !ENERGY_KINDS.contains(&f.energy_kind.as_str()) {
        e.add("energy_kind", "unknown_code");
    }
    let flat_price = number(&f.flat_price, 5, "flat_price", &mut e);
    if f.flat_price.trim().is_empty() {
        e.add("flat_price", "required");
    }
    let peak_price = number(&f.peak_price, 5, "peak_price", &mut e);
    let valley_price = number(&f.valley_price, 5, "valley_price", &mut e);
    if f.energy_kind == "time_of_use" {
        if peak_price.is_none() {
            e.add("peak_price", "required");
        }
        if valley_price.is_none() {
            e.add("valley_price", "required");
        }
    }
    let tier1 = number(&f.tier1_yearly_kwh, 2, "tier1_yearly_kwh", &mut e);
    let tier2 = number(&f.tier2_yearly_kwh, 2, "tier2_yearly_kwh", &mut e);
    let s2 = number(&f.tier2_surcharge, 5, "tier2_surcharge", &mut e);
    let s3 = number(&f.tier3_surcharge, 5, "tier3_surcharge", &mut e);
    let tier_fields = [tier1, tier2, s2, s3];
    if tier_fields.iter().any(Option::is_some) && tier_fields.iter().any(Option::is_none) {
        e.add("tier1_yearly_kwh", "tiers_incomplete");
    }
    if let (Some(t1), Some(t2)) = (tier1, tier2)
        && t2 <= t1
    {
        e.add("tier2_yearly_kwh", "tier2_above_tier1");
    }
    let basic_kind = Some(f.basic_kind.trim().to_owned()).filter(|k| !k.is_empty());
    if basic_kind.as_deref().is_some_and(|k| !BASIC_KINDS.contains(&k)) {
        e.add("basic_kind", "unknown_code");
    }
    let basic_price = number(&f.basic_price, 4, "basic_price", &mut e);
    if basic_kind.is_some() != basic_price.is_some() {
        e.add("basic_price", "basic_incomplete");
    }
    let pf = match f.power_factor_standard.trim() {
        "" => None,
        s if PF_STANDARDS.contains(&s) => s.parse().ok(),
        _ => {
            e.add("power_factor_standard", "unknown_code");
            None
        }
    };
    let time_of_use = f.energy_kind == "time_of_use";
    e.finish(NewVersion {
        tariff_code: f.tariff_code.clone(),
        effective_from: effective_from.unwrap_or_default(),
        energy_kind: f.energy_kind.clone(),
        flat_price: flat_price.unwrap_or_default(),
        peak_price: peak_price.filter(|_| time_of_use),
        valley_price: valley_price.filter(|_| time_of_use),
        tier1_yearly_kwh: tier1,
        tier2_yearly_kwh: tier2,
        tier2_surcharge: s2,
        tier3_surcharge: s3,
        basic_kind,
        basic_price,
        power_factor_standard: pf,
    })
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub due_days: String,
    #[serde(default)]
    pub late_fee_residential: String,
    #[serde(default)]
    pub late_fee_other: String,
    #[serde(default)]
    pub late_fee_other_across_year: String,
    #[serde(default)]
    pub jump_factor: String,
    #[serde(default)]
    pub low_balance_days: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BillingSettings {
    pub due_days: i16,
    /// Per day, as a fraction (0.001 = 0.1 %).
    pub late_fee_residential: Decimal,
    pub late_fee_other: Decimal,
    pub late_fee_other_across_year: Decimal,
    pub jump_factor: Decimal,
    pub low_balance_days: i16,
}

/// Late-fee rates are typed in percent per day (0.1) and stored as fractions (0.001).
pub fn parse_settings(f: &SettingsForm) -> Result<BillingSettings, FieldErrors> {
    let mut e = FieldErrors::default();
    let small = |raw: &str, field: &str, lo: i16, hi: i16, e: &mut FieldErrors| match raw.trim().parse::<i16>() {
        Ok(v) if (lo..=hi).contains(&v) => v,
        _ => {
            e.add(field, "whole_number_range");
            lo
        }
    };
    let due_days = small(&f.due_days, "due_days", 0, 90, &mut e);
    let low_balance_days = small(&f.low_balance_days, "low_balance_days", 0, 60, &mut e);
    let percent = |raw: &str, field: &str, e: &mut FieldErrors| match input::plain_decimal(raw, 1, 4) {
        Some(v) if v >= Decimal::ZERO && v <= Decimal::ONE => v / Decimal::from(100),
        _ => {
            e.add(field, "rate_percent");
            Decimal::ZERO
        }
    };
    let late_fee_residential = percent(&f.late_fee_residential, "late_fee_residential", &mut e);
    let late_fee_other = percent(&f.late_fee_other, "late_fee_other", &mut e);
    let late_fee_other_across_year = percent(&f.late_fee_other_across_year, "late_fee_other_across_year", &mut e);
    let jump_factor = match input::plain_decimal(&f.jump_factor, 3, 2) {
        Some(v) if v > Decimal::ONE => v,
        _ => {
            e.add("jump_factor", "jump_factor_range");
            Decimal::from(3)
        }
    };
    e.finish(BillingSettings {
        due_days,
        late_fee_residential,
        late_fee_other,
        late_fee_other_across_year,
        jump_factor,
        low_balance_days,
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn residential() -> VersionForm {
        VersionForm {
            tariff_code: "res_tiered".into(),
            effective_from: "2027-01-01".into(),
            energy_kind: "flat".into(),
            flat_price: "0.558".into(),
            tier1_yearly_kwh: "2760".into(),
            tier2_yearly_kwh: "4800".into(),
            tier2_surcharge: "0.05".into(),
            tier3_surcharge: "0.3".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_tiered_version_from_a_future_date_is_accepted() {
        let codes = vec!["res_tiered".to_owned()];
        let v = parse_version(&residential(), &codes, today()).unwrap();
        assert_eq!((v.flat_price, v.tier2_yearly_kwh, v.peak_price), (dec!(0.558), Some(dec!(4800)), None));
    }

    #[test]
    fn a_version_is_refused_field_by_field() {
        let codes = vec!["res_tiered".to_owned()];
        let bad = VersionForm {
            tariff_code: "nope".into(),
            effective_from: "2026-11-01".into(),
            energy_kind: "time_of_use".into(),
            flat_price: "-1".into(),
            tier2_yearly_kwh: "100".into(),
            basic_kind: "per_kva".into(),
            power_factor_standard: "0.95".into(),
            ..Default::default()
        };
        let e = parse_version(&bad, &codes, today()).unwrap_err();
        for f in [
            "tariff_code",
            "effective_from",
            "flat_price",
            "peak_price",
            "valley_price",
            "tier1_yearly_kwh",
            "basic_price",
            "power_factor_standard",
        ] {
            assert!(e.has(f), "{f}");
        }
        let mut inverted = residential();
        inverted.tier2_yearly_kwh = "2000".into();
        assert!(parse_version(&inverted, &codes, today()).unwrap_err().has("tier2_yearly_kwh"));
    }

    #[test]
    fn late_fee_rates_are_typed_in_percent() {
        let f = SettingsForm {
            due_days: "15".into(),
            late_fee_residential: "0.1".into(),
            late_fee_other: "0.2".into(),
            late_fee_other_across_year: "0.3".into(),
            jump_factor: "3".into(),
            low_balance_days: "7".into(),
        };
        let s = parse_settings(&f).unwrap();
        assert_eq!((s.late_fee_residential, s.late_fee_other_across_year), (dec!(0.001), dec!(0.003)));
        let bad = SettingsForm { due_days: "91".into(), late_fee_other: "5".into(), jump_factor: "1".into(), ..f };
        let e = parse_settings(&bad).unwrap_err();
        assert!(e.has("due_days") && e.has("late_fee_other") && e.has("jump_factor"));
    }
}
