//! Register readings: what a reader writes down, checked field by field, and
//! the plausibility checks that send a reading to the review queue instead
//! of a bill. Pure.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::{months, web::error::FieldErrors};

pub const KINDS: [&str; 3] = ["regular", "removal", "installation"];

/// Why a reading waits for review.
pub const FLAGS: [&str; 3] = ["lower_than_last", "jump", "zero"];

/// A reading as typed on the form, sent to the API or read from a CSV line.
/// Numbers and dates are strings so that a bad one is named, not rejected whole.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReadingDraft {
    /// The meter's serial number.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    pub meter: String,
    /// The billing period it closes, "2026-11" (1990–2100); default: the month it was read in.
    #[serde(default)]
    #[schema(pattern = r"^((199[0-9]|20[0-9]{2}|2100)-(0[1-9]|1[0-2]))?$")]
    pub period: Option<String>,
    /// regular (default), removal or installation.
    #[serde(default)]
    #[schema(schema_with = crate::readings::api::kind_schema)]
    pub kind: Option<String>,
    /// The day it was read, "2026-11-25"; not in the future.
    #[serde(default)]
    #[schema(required = true, format = Date)]
    pub read_on: String,
    /// The total active register, kWh, e.g. "12345.6": not negative, at most
    /// two decimals, under 10¹². So are the bands (all three or none; they add up
    /// to the total) and the other registers.
    #[serde(default)]
    #[schema(required = true, pattern = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")]
    pub total: String,
    #[serde(default)]
    #[schema(pattern = r"^((0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?)?$")]
    pub peak: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^((0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?)?$")]
    pub flat: Option<String>,
    #[serde(default)]
    #[schema(pattern = r"^((0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?)?$")]
    pub valley: Option<String>,
    /// Reactive register, kvarh.
    #[serde(default)]
    #[schema(pattern = r"^((0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?)?$")]
    pub reactive: Option<String>,
    /// The period's maximum demand, kW.
    #[serde(default)]
    #[schema(pattern = r"^((0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?)?$")]
    pub max_demand_kw: Option<String>,
    /// The reader saw the register roll over past 99999… since the last reading.
    #[serde(default)]
    pub rollover: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValidReading {
    pub meter: String,
    pub period: NaiveDate,
    pub kind: String,
    pub read_on: NaiveDate,
    pub total: Decimal,
    pub peak: Option<Decimal>,
    pub flat: Option<Decimal>,
    pub valley: Option<Decimal>,
    pub reactive: Option<Decimal>,
    pub max_demand_kw: Option<Decimal>,
    pub rollover: bool,
}

/// A register value: not negative, at most two decimals, at most 12 digits before the point.
pub fn register(raw: &str) -> Option<Decimal> {
    let value: Decimal = raw.trim().replace(',', "").parse().ok()?;
    (value >= Decimal::ZERO && value.scale() <= 2 && value < Decimal::from(1_000_000_000_000i64)).then_some(value)
}

fn optional(raw: &Option<String>, field: &str, errors: &mut FieldErrors) -> Option<Decimal> {
    let raw = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    let value = register(raw);
    if value.is_none() {
        errors.add(field, "register_format");
    }
    value
}

/// Checks a draft; `today` bounds the reading date (no readings from the future).
pub fn validate(draft: &ReadingDraft, today: NaiveDate) -> Result<ValidReading, FieldErrors> {
    let mut errors = FieldErrors::default();
    let meter = draft.meter.trim();
    if meter.is_empty() {
        errors.add("meter", "required");
    }
    let read_on = NaiveDate::parse_from_str(draft.read_on.trim(), "%Y-%m-%d").ok();
    match read_on {
        None => errors.add("read_on", "date_format"),
        Some(day) if day > today => errors.add("read_on", "in_future"),
        Some(_) => {}
    }
    let period = match draft.period.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let period = months::parse(raw);
            if period.is_none() {
                errors.add("period", "invalid_month");
            }
            period
        }
        None => read_on.map(months::start_of),
    };
    let kind = draft.kind.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("regular");
    if !KINDS.contains(&kind) {
        errors.add("kind", "unknown_code");
    }
    let total = register(&draft.total);
    if draft.total.trim().is_empty() {
        errors.add("total", "required");
    } else if total.is_none() {
        errors.add("total", "register_format");
    }
    let peak = optional(&draft.peak, "peak", &mut errors);
    let flat = optional(&draft.flat, "flat", &mut errors);
    let valley = optional(&draft.valley, "valley", &mut errors);
    let reactive = optional(&draft.reactive, "reactive", &mut errors);
    let max_demand_kw = optional(&draft.max_demand_kw, "max_demand_kw", &mut errors);
    let bands = [peak, flat, valley];
    if bands.iter().any(Option::is_some) && bands.iter().any(Option::is_none) {
        errors.add("peak", "bands_incomplete");
    }
    if let (Some(total), Some(p), Some(f), Some(v)) = (total, peak, flat, valley) {
        // The bands add up to the total, give or take the last digit of each register.
        if (p + f + v - total).abs() > Decimal::from(3) {
            errors.add("total", "bands_sum");
        }
    }
    errors.finish(ValidReading {
        meter: meter.to_owned(),
        period: period.unwrap_or_default(),
        kind: kind.to_owned(),
        read_on: read_on.unwrap_or_default(),
        total: total.unwrap_or_default(),
        peak,
        flat,
        valley,
        reactive,
        max_demand_kw,
        rollover: draft.rollover.unwrap_or(false),
    })
}

/// What the checks need to know about the meter and its history.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The last billable reading's total register, if any, and the day it was read.
    pub previous_total: Option<Decimal>,
    pub previous_read_on: Option<NaiveDate>,
    pub multiplier: Decimal,
    pub register_digits: u32,
    /// The average usage of the customer's recent readings on this meter (kWh), if any.
    pub recent_average_kwh: Option<Decimal>,
    /// Usage above this many times the average is an implausible jump.
    pub jump_factor: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// Empty: billable as read.
    pub flags: Vec<&'static str>,
    /// Usage since the previous reading × multiplier; None for a first reading
    /// or one lower than the last without a declared rollover.
    pub usage_kwh: Option<Decimal>,
}

/// The plausibility checks on a reading:
/// - lower than the last reading, without a declared rollover: re-read;
/// - usage above `jump_factor` × the recent average: implausible jump;
/// - no usage where the customer usually uses power: zero.
pub fn check(total: Decimal, rollover: bool, history: &History) -> Checked {
    let Some(previous) = history.previous_total else {
        return Checked { flags: Vec::new(), usage_kwh: None };
    };
    let mut flags = Vec::new();
    let advance = if total >= previous {
        Some(total - previous)
    } else if rollover {
        Some(total + Decimal::from(10i64.pow(history.register_digits.min(12))) - previous)
    } else {
        flags.push("lower_than_last");
        None
    };
    let usage = advance.map(|a| (a * history.multiplier).round_dp(2));
    if let (Some(usage), Some(average)) = (usage, history.recent_average_kwh.filter(|a| *a > Decimal::ZERO)) {
        if usage.is_zero() {
            flags.push("zero");
        } else if usage > average * history.jump_factor {
            flags.push("jump");
        }
    }
    Checked { flags, usage_kwh: usage }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn draft(total: &str) -> ReadingDraft {
        ReadingDraft { meter: "M0001".into(), read_on: "2026-11-25".into(), total: total.into(), ..Default::default() }
    }

    fn history(previous: Option<Decimal>, average: Option<Decimal>) -> History {
        History {
            previous_total: previous,
            previous_read_on: None,
            multiplier: dec!(1),
            register_digits: 6,
            recent_average_kwh: average,
            jump_factor: dec!(3),
        }
    }

    #[test]
    fn a_reading_defaults_to_a_regular_one_for_the_month_it_was_read_in() {
        let ok = validate(&draft("12,345.6"), d(2026, 11, 27)).unwrap();
        assert_eq!((ok.period, ok.kind.as_str(), ok.total), (d(2026, 11, 1), "regular", dec!(12345.6)));
    }

    #[test]
    fn bad_fields_are_each_named() {
        let bad = ReadingDraft {
            meter: " ".into(),
            period: Some("2026-13".into()),
            kind: Some("guess".into()),
            read_on: "2026-12-01".into(),
            total: "-5".into(),
            peak: Some("10".into()),
            ..Default::default()
        };
        let errors = validate(&bad, d(2026, 11, 27)).unwrap_err();
        for field in ["meter", "period", "kind", "read_on", "total", "peak"] {
            assert!(errors.has(field), "{field}");
        }
        assert!(validate(&draft("1.234"), d(2026, 11, 27)).unwrap_err().has("total"), "at most two decimals");
    }

    #[test]
    fn time_of_use_bands_add_up_to_the_total() {
        let mut tou = draft("1000");
        (tou.peak, tou.flat, tou.valley) = (Some("300".into()), Some("400".into()), Some("300".into()));
        assert!(validate(&tou, d(2026, 11, 27)).is_ok());
        tou.valley = Some("200".into());
        assert!(validate(&tou, d(2026, 11, 27)).unwrap_err().has("total"));
    }

    #[test]
    fn a_reading_below_the_last_waits_for_a_re_reading_unless_a_rollover_is_declared() {
        let h = history(Some(dec!(999950)), Some(dec!(100)));
        let lower = check(dec!(30), false, &h);
        assert_eq!((lower.flags, lower.usage_kwh), (vec!["lower_than_last"], None));
        let rolled = check(dec!(30), true, &h);
        assert_eq!((rolled.flags, rolled.usage_kwh), (vec![], Some(dec!(80))));
    }

    #[test]
    fn jumps_and_zeros_against_the_customers_own_history_are_flagged() {
        let h = history(Some(dec!(1000)), Some(dec!(200)));
        assert_eq!(
            check(dec!(1600), false, &h).flags,
            Vec::<&str>::new(),
            "three times the average is still plausible"
        );
        assert_eq!(check(dec!(1601), false, &h).flags, vec!["jump"]);
        assert_eq!(check(dec!(1000), false, &h).flags, vec!["zero"]);
        // Without history there is nothing to compare with.
        assert!(check(dec!(1000), false, &history(Some(dec!(1000)), None)).flags.is_empty());
        assert_eq!(check(dec!(50), false, &history(None, None)).usage_kwh, None, "a first reading has no usage");
    }

    #[test]
    fn usage_counts_the_multiplier() {
        let h = History { multiplier: dec!(40), ..history(Some(dec!(100.5)), None) };
        assert_eq!(check(dec!(110.75), false, &h).usage_kwh, Some(dec!(410.00)));
    }
}
