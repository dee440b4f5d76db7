//! The bill calculation: register readings + tariff versions + the customer's
//! capacity → bill lines. Pure and exact (decimal arithmetic; each line's
//! amount rounded half away from zero to the fen, the total the sum of lines).
//!
//! - Consumption is (this − last) × multiplier per meter; a meter replaced
//!   inside the period contributes one segment per meter.
//! - A tariff change inside the period splits consumption, tier allowances and
//!   basic charges by days (按天数分摊).
//! - Yearly tiers are spread monthly: a one-month period allows 1/12 of each.

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;

use crate::billing::tariff::{BasicCharge, EnergyPrice, Tariff, power_factor, power_factor_adjustment};

/// Register values of a meter at one reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Registers {
    pub total: Decimal,
    /// Time-of-use registers, when the meter has them.
    pub bands: Option<Bands>,
    /// Reactive energy register (kvarh), for the power factor.
    pub reactive: Option<Decimal>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bands {
    pub peak: Decimal,
    pub flat: Decimal,
    pub valley: Decimal,
}

/// One meter's part of the period: its readings at the start and the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub meter: String,
    pub multiplier: Decimal,
    pub start: Registers,
    pub end: Registers,
    /// The period's maximum demand on this meter (kW), for a demand charge.
    pub max_demand_kw: Option<Decimal>,
}

pub struct BillInput<'a> {
    /// First day of the period.
    pub from: NaiveDate,
    /// First day after the period.
    pub until: NaiveDate,
    pub segments: &'a [Segment],
    /// Every version of the customer's tariff, any order.
    pub tariffs: &'a [Tariff],
    pub capacity_kva: Option<Decimal>,
}

/// Every line kind's code, in bill order.
pub const LINE_KINDS: [&str; 10] = [
    "energy",
    "energy_peak",
    "energy_flat",
    "energy_valley",
    "tier2_surcharge",
    "tier3_surcharge",
    "basic_capacity",
    "basic_demand",
    "power_factor",
    // A credit the bill run adds (billing::credits), not the calculation.
    "demand_response",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum LineKind {
    Energy,
    EnergyPeak,
    EnergyFlat,
    EnergyValley,
    Tier2Surcharge,
    Tier3Surcharge,
    BasicCapacity,
    BasicDemand,
    PowerFactor,
}

impl LineKind {
    /// The stored code; the variants are in the order of `LINE_KINDS`.
    pub fn code(self) -> &'static str {
        LINE_KINDS[self as usize]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BillLine {
    pub kind: LineKind,
    pub tariff_code: String,
    /// kWh, kVA·months, kW·months, or the adjustment's base in yuan.
    pub quantity: Decimal,
    /// Yuan per unit, or the adjustment's share.
    pub unit_price: Decimal,
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    pub energy_kwh: Decimal,
    pub power_factor: Option<Decimal>,
    pub total: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("no tariff in force on {0}")]
    NoTariff(NaiveDate),
    #[error("the period is empty")]
    EmptyPeriod,
    #[error("meter {0}: a reading is lower than the one before")]
    NegativeConsumption(String),
    #[error("meter {0}: the tariff is time-of-use but the meter has no time-of-use registers")]
    MissingBands(String),
    #[error("the tariff adjusts for power factor but no reactive energy was read")]
    MissingReactive,
    #[error("the tariff charges by capacity but the customer has none")]
    MissingCapacity,
    #[error("the tariff charges by maximum demand but none was read")]
    MissingDemand,
}

pub fn money(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn kwh(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// What was used in the period, summed over the meters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Usage {
    total: Decimal,
    bands: Option<Bands>,
    reactive: Option<Decimal>,
    max_demand: Option<Decimal>,
}

impl Usage {
    fn share(&self, share: Decimal) -> Usage {
        Usage {
            total: kwh(self.total * share),
            bands: self.bands.map(|b| Bands {
                peak: kwh(b.peak * share),
                flat: kwh(b.flat * share),
                valley: kwh(b.valley * share),
            }),
            reactive: self.reactive.map(|r| kwh(r * share)),
            max_demand: self.max_demand,
        }
    }

    fn minus(&self, other: &Usage) -> Usage {
        Usage {
            total: self.total - other.total,
            bands: match (self.bands, other.bands) {
                (Some(a), Some(b)) => {
                    Some(Bands { peak: a.peak - b.peak, flat: a.flat - b.flat, valley: a.valley - b.valley })
                }
                (a, _) => a,
            },
            reactive: match (self.reactive, other.reactive) {
                (Some(a), Some(b)) => Some(a - b),
                (a, _) => a,
            },
            max_demand: self.max_demand,
        }
    }
}

fn usage(segments: &[Segment]) -> Result<(Usage, Option<String>), BillError> {
    let mut used = Usage::default();
    let mut all_banded = !segments.is_empty();
    let mut all_reactive = !segments.is_empty();
    let mut unbanded = None;
    let mut bands = Bands::default();
    let mut reactive = Decimal::ZERO;
    for s in segments {
        let total = (s.end.total - s.start.total) * s.multiplier;
        if total < Decimal::ZERO {
            return Err(BillError::NegativeConsumption(s.meter.clone()));
        }
        used.total += total;
        match (s.start.bands, s.end.bands) {
            (Some(a), Some(b)) => {
                let d = Bands {
                    peak: (b.peak - a.peak) * s.multiplier,
                    flat: (b.flat - a.flat) * s.multiplier,
                    valley: (b.valley - a.valley) * s.multiplier,
                };
                if d.peak < Decimal::ZERO || d.flat < Decimal::ZERO || d.valley < Decimal::ZERO {
                    return Err(BillError::NegativeConsumption(s.meter.clone()));
                }
                bands.peak += d.peak;
                bands.flat += d.flat;
                bands.valley += d.valley;
            }
            _ => {
                all_banded = false;
                unbanded.get_or_insert_with(|| s.meter.clone());
            }
        }
        match (s.start.reactive, s.end.reactive) {
            (Some(a), Some(b)) if b >= a => reactive += (b - a) * s.multiplier,
            (Some(_), Some(_)) => return Err(BillError::NegativeConsumption(s.meter.clone())),
            _ => all_reactive = false,
        }
        if let Some(d) = s.max_demand_kw {
            used.max_demand = Some(used.max_demand.map_or(d, |m: Decimal| m.max(d)));
        }
    }
    used.total = kwh(used.total);
    used.bands = all_banded.then_some(bands);
    used.reactive = all_reactive.then_some(reactive);
    Ok((used, unbanded))
}

/// The tariff versions in force over [from, until), each with its days.
fn versions(tariffs: &[Tariff], from: NaiveDate, until: NaiveDate) -> Result<Vec<(&Tariff, i64)>, BillError> {
    let mut sorted: Vec<&Tariff> = tariffs.iter().collect();
    sorted.sort_by_key(|t| t.effective_from);
    let in_force_at = |day: NaiveDate| sorted.iter().rev().find(|t| t.effective_from <= day).copied();
    let first = in_force_at(from).ok_or(BillError::NoTariff(from))?;
    let mut pieces = vec![(first, from)];
    for t in &sorted {
        if t.effective_from > from && t.effective_from < until {
            pieces.push((t, t.effective_from));
        }
    }
    Ok(pieces
        .iter()
        .enumerate()
        .map(|(i, (t, start))| {
            let end = pieces.get(i + 1).map_or(until, |p| p.1);
            (*t, (end - *start).num_days())
        })
        .collect())
}

/// Months in the period: whole calendar months when it runs from a first of
/// the month to a first of the month, else days / 30.
fn months(from: NaiveDate, until: NaiveDate) -> Decimal {
    if from.day() == 1 && until.day() == 1 {
        let n = (until.year() - from.year()) * 12 + until.month() as i32 - from.month() as i32;
        return Decimal::from(n.max(0));
    }
    Decimal::from((until - from).num_days()) / dec!(30)
}

fn line(kind: LineKind, tariff: &Tariff, quantity: Decimal, unit_price: Decimal) -> BillLine {
    BillLine { kind, tariff_code: tariff.code.clone(), quantity, unit_price, amount: money(quantity * unit_price) }
}

pub fn calculate(input: &BillInput<'_>) -> Result<Bill, BillError> {
    let days = (input.until - input.from).num_days();
    if days <= 0 {
        return Err(BillError::EmptyPeriod);
    }
    let (used, unbanded) = usage(input.segments)?;
    let pieces = versions(input.tariffs, input.from, input.until)?;
    let months = months(input.from, input.until);
    let mut lines = Vec::new();
    let mut given = Usage::default();
    let mut pf_base = Decimal::ZERO;
    let mut pf_standard = None;
    for (i, (tariff, piece_days)) in pieces.iter().enumerate() {
        let share = Decimal::from(*piece_days) / Decimal::from(days);
        // The last piece takes what is left, so the parts add up to the whole.
        let part = if i + 1 == pieces.len() { used.minus(&given) } else { used.share(share) };
        given = Usage {
            total: given.total + part.total,
            bands: match (given.bands, part.bands) {
                (Some(g), Some(p)) => {
                    Some(Bands { peak: g.peak + p.peak, flat: g.flat + p.flat, valley: g.valley + p.valley })
                }
                (None, p) => p,
                (g, None) => g,
            },
            reactive: Some(given.reactive.unwrap_or_default() + part.reactive.unwrap_or_default()),
            max_demand: used.max_demand,
        };
        let first_line = lines.len();
        match &tariff.energy {
            EnergyPrice::Flat(price) => lines.push(line(LineKind::Energy, tariff, part.total, *price)),
            EnergyPrice::TimeOfUse { peak, flat, valley } => {
                let bands = part.bands.ok_or_else(|| BillError::MissingBands(unbanded.clone().unwrap_or_default()))?;
                lines.push(line(LineKind::EnergyPeak, tariff, bands.peak, *peak));
                lines.push(line(LineKind::EnergyFlat, tariff, bands.flat, *flat));
                lines.push(line(LineKind::EnergyValley, tariff, bands.valley, *valley));
            }
        }
        if let Some(tiers) = &tariff.tiers {
            let allowance = |yearly: Decimal| kwh(yearly / dec!(12) * months * share);
            let (l1, l2) = (allowance(tiers.yearly_limits[0]), allowance(tiers.yearly_limits[1]));
            let tier2 = (part.total - l1).max(Decimal::ZERO).min(l2 - l1);
            let tier3 = (part.total - l2).max(Decimal::ZERO);
            if tier2 > Decimal::ZERO {
                lines.push(line(LineKind::Tier2Surcharge, tariff, tier2, tiers.surcharges[0]));
            }
            if tier3 > Decimal::ZERO {
                lines.push(line(LineKind::Tier3Surcharge, tariff, tier3, tiers.surcharges[1]));
            }
        }
        match &tariff.basic {
            Some(BasicCharge::PerKva(price)) => {
                let capacity = input.capacity_kva.ok_or(BillError::MissingCapacity)?;
                lines.push(line(LineKind::BasicCapacity, tariff, kwh(capacity * months * share), *price));
            }
            Some(BasicCharge::PerKwDemand(price)) => {
                let demand = used.max_demand.ok_or(BillError::MissingDemand)?;
                lines.push(line(LineKind::BasicDemand, tariff, kwh(demand * months * share), *price));
            }
            None => {}
        }
        if let Some(standard) = tariff.power_factor_standard {
            pf_standard = Some((standard, *tariff));
            pf_base += lines[first_line..].iter().map(|l| l.amount).sum::<Decimal>();
        }
    }
    let mut pf = None;
    if let Some((standard, tariff)) = pf_standard {
        let reactive = used.reactive.ok_or(BillError::MissingReactive)?;
        let factor = power_factor(used.total, reactive);
        if let Some(factor) = factor {
            let share = power_factor_adjustment(standard, factor);
            if !share.is_zero() {
                lines.push(line(LineKind::PowerFactor, tariff, pf_base, share));
            }
        }
        pf = factor;
    }
    let total = lines.iter().map(|l| l.amount).sum();
    Ok(Bill { lines, energy_kwh: used.total, power_factor: pf, total })
}

/// A declared register rollover: the end reading counted past 10^digits, for
/// each register that reads lower than at the start. Without a declaration
/// (or with a register that did not go down) the reading stands as read.
pub fn apply_rollover(start: &Registers, end: &Registers, digits: u32) -> Registers {
    let wrap = Decimal::from(10i64.pow(digits.min(18)));
    let past = |s: Decimal, e: Decimal| if e < s { e + wrap } else { e };
    Registers {
        total: past(start.total, end.total),
        bands: match (start.bands, end.bands) {
            (Some(a), Some(b)) => {
                Some(Bands { peak: past(a.peak, b.peak), flat: past(a.flat, b.flat), valley: past(a.valley, b.valley) })
            }
            (_, b) => b,
        },
        reactive: match (start.reactive, end.reactive) {
            (Some(a), Some(b)) => Some(past(a, b)),
            (_, b) => b,
        },
    }
}

/// The tier allowances a period gives, per tariff version in force, for the
/// bill page ("tier 1 up to … kWh this month").
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TierAllowance {
    pub tariff_code: String,
    pub from: NaiveDate,
    pub days: i64,
    /// kWh of tier 1, and the upper bound of tier 2, for these days.
    pub tier1_kwh: Decimal,
    pub tier2_kwh: Decimal,
}

pub fn tier_allowances(tariffs: &[Tariff], from: NaiveDate, until: NaiveDate) -> Vec<TierAllowance> {
    let days = (until - from).num_days();
    let Ok(pieces) = versions(tariffs, from, until) else { return Vec::new() };
    if days <= 0 {
        return Vec::new();
    }
    let months = months(from, until);
    let mut start = from;
    let mut out = Vec::new();
    for (tariff, piece_days) in pieces {
        let share = Decimal::from(piece_days) / Decimal::from(days);
        if let Some(tiers) = &tariff.tiers {
            let allowance = |yearly: Decimal| kwh(yearly / dec!(12) * months * share);
            out.push(TierAllowance {
                tariff_code: tariff.code.clone(),
                from: start,
                days: piece_days,
                tier1_kwh: allowance(tiers.yearly_limits[0]),
                tier2_kwh: allowance(tiers.yearly_limits[1]),
            });
        }
        start += chrono::Duration::days(piece_days);
    }
    out
}

/// Usage against the same month last year, as a whole percentage
/// ("+85%"); None without a comparable month.
pub fn change_percent(now: Decimal, before: Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    if before <= Decimal::ZERO {
        return None;
    }
    ((now - before) * dec!(100) / before).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero).to_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::tariff::Tiers;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn residential(price: Decimal, from: NaiveDate) -> Tariff {
        Tariff {
            code: "res_tiered".into(),
            effective_from: from,
            energy: EnergyPrice::Flat(price),
            tiers: Some(Tiers::national_default()),
            basic: None,
            power_factor_standard: None,
        }
    }

    fn meter(start: Decimal, end: Decimal) -> Segment {
        Segment {
            meter: "M1".into(),
            multiplier: Decimal::ONE,
            start: Registers { total: start, ..Default::default() },
            end: Registers { total: end, ..Default::default() },
            max_demand_kw: None,
        }
    }

    fn november(segments: &[Segment], tariffs: &[Tariff], capacity: Option<Decimal>) -> Result<Bill, BillError> {
        calculate(&BillInput { from: d(2026, 11, 1), until: d(2026, 12, 1), segments, tariffs, capacity_kva: capacity })
    }

    fn amounts(bill: &Bill) -> Vec<(&'static str, Decimal, Decimal)> {
        bill.lines.iter().map(|l| (l.kind.code(), l.quantity, l.amount)).collect()
    }

    #[test]
    fn tier_boundaries_fall_at_230_and_400_kwh_a_month() {
        let tariff = [residential(dec!(0.538), d(2020, 1, 1))];
        let at = |kwh: Decimal| november(&[meter(dec!(1000), dec!(1000) + kwh)], &tariff, None).unwrap();
        assert_eq!(amounts(&at(dec!(230))), vec![("energy", dec!(230), dec!(123.74))]);
        assert_eq!(
            amounts(&at(dec!(231))),
            vec![("energy", dec!(231), dec!(124.28)), ("tier2_surcharge", dec!(1), dec!(0.05))]
        );
        let bill = at(dec!(401));
        assert_eq!(
            amounts(&bill),
            vec![
                ("energy", dec!(401), dec!(215.74)),
                ("tier2_surcharge", dec!(170), dec!(8.50)),
                ("tier3_surcharge", dec!(1), dec!(0.30))
            ]
        );
        assert_eq!(bill.total, dec!(224.54));
        assert_eq!(bill.energy_kwh, dec!(401));
    }

    #[test]
    fn a_tariff_change_inside_the_period_splits_usage_and_allowances_by_days() {
        // 30 days: 15 at the old price, 15 at the new; each half allows 115 kWh in tier 1.
        let tariffs = [residential(dec!(0.50), d(2020, 1, 1)), residential(dec!(0.60), d(2026, 11, 16))];
        let bill = november(&[meter(dec!(0), dec!(300))], &tariffs, None).unwrap();
        assert_eq!(
            amounts(&bill),
            vec![
                ("energy", dec!(150), dec!(75.00)),
                ("tier2_surcharge", dec!(35), dec!(1.75)),
                ("energy", dec!(150), dec!(90.00)),
                ("tier2_surcharge", dec!(35), dec!(1.75)),
            ]
        );
        assert_eq!(bill.total, dec!(168.50));
    }

    #[test]
    fn uneven_splits_still_add_up_to_the_metered_kwh() {
        let tariffs = [residential(dec!(0.50), d(2020, 1, 1)), residential(dec!(0.60), d(2026, 11, 11))];
        let bill = november(&[meter(dec!(0), dec!(100))], &tariffs, None).unwrap();
        let energy: Decimal = bill.lines.iter().filter(|l| l.kind == LineKind::Energy).map(|l| l.quantity).sum();
        assert_eq!(energy, dec!(100));
        assert_eq!(bill.lines[0].quantity, dec!(33.33));
        assert_eq!(bill.lines[1].quantity, dec!(66.67));
    }

    #[test]
    fn a_meter_replaced_inside_the_period_counts_both_meters_with_their_multipliers() {
        let old = Segment { multiplier: dec!(1), ..meter(dec!(5000), dec!(5120)) };
        let new = Segment { meter: "M2".into(), multiplier: dec!(40), ..meter(dec!(0), dec!(2.5)) };
        let tariff = [residential(dec!(0.538), d(2020, 1, 1))];
        let bill = november(&[old, new], &tariff, None).unwrap();
        assert_eq!(bill.energy_kwh, dec!(220), "120 on the old meter + 2.5 × 40 on the new");
        assert_eq!(bill.total, dec!(118.36));
    }

    #[test]
    fn a_lower_reading_is_never_billed() {
        let tariff = [residential(dec!(0.538), d(2020, 1, 1))];
        assert_eq!(
            november(&[meter(dec!(500), dec!(499))], &tariff, None),
            Err(BillError::NegativeConsumption("M1".into()))
        );
        assert_eq!(november(&[meter(dec!(0), dec!(1))], &[], None), Err(BillError::NoTariff(d(2026, 11, 1))));
    }

    fn tou_segment(peak: Decimal, flat: Decimal, valley: Decimal, reactive: Decimal, multiplier: Decimal) -> Segment {
        Segment {
            meter: "M9".into(),
            multiplier,
            start: Registers { total: Decimal::ZERO, bands: Some(Bands::default()), reactive: Some(Decimal::ZERO) },
            end: Registers {
                total: peak + flat + valley,
                bands: Some(Bands { peak, flat, valley }),
                reactive: Some(reactive),
            },
            max_demand_kw: Some(dec!(800)),
        }
    }

    #[test]
    fn time_of_use_prices_each_band() {
        let tariff = Tariff {
            code: "tou".into(),
            effective_from: d(2020, 1, 1),
            energy: EnergyPrice::time_of_use_from_flat(dec!(0.60), (dec!(1.5), dec!(0.5))),
            tiers: None,
            basic: None,
            power_factor_standard: None,
        };
        let bill =
            november(&[tou_segment(dec!(100), dec!(200), dec!(300), dec!(0), dec!(1))], &[tariff], None).unwrap();
        assert_eq!(
            amounts(&bill),
            vec![
                ("energy_peak", dec!(100), dec!(90.00)),
                ("energy_flat", dec!(200), dec!(120.00)),
                ("energy_valley", dec!(300), dec!(90.00))
            ]
        );
        let flat_meter = november(&[meter(dec!(0), dec!(10))], &[bill_tariff_tou()], None);
        assert_eq!(flat_meter, Err(BillError::MissingBands("M1".into())));
    }

    fn bill_tariff_tou() -> Tariff {
        Tariff {
            code: "tou".into(),
            effective_from: d(2020, 1, 1),
            energy: EnergyPrice::time_of_use_from_flat(dec!(0.60), (dec!(1.5), dec!(0.5))),
            tiers: None,
            basic: None,
            power_factor_standard: None,
        }
    }

    #[test]
    fn two_part_tariff_with_power_factor_adjustment() {
        let tariff = Tariff {
            code: "large_industry".into(),
            effective_from: d(2020, 1, 1),
            energy: EnergyPrice::TimeOfUse { peak: dec!(0.90), flat: dec!(0.60), valley: dec!(0.30) },
            tiers: None,
            basic: Some(BasicCharge::PerKva(dec!(25))),
            power_factor_standard: Some(dec!(0.90)),
        };
        // CT ratio 100: 1,000 kWh read → 100,000 kWh; reactive 75,000 kvarh → power factor 0.80.
        let segment = tou_segment(dec!(300), dec!(400), dec!(300), dec!(750), dec!(100));
        let bill = november(std::slice::from_ref(&segment), std::slice::from_ref(&tariff), Some(dec!(1000))).unwrap();
        assert_eq!(bill.power_factor, Some(dec!(0.80)));
        // Energy 27,000 + 24,000 + 9,000; basic 1,000 kVA × 25; 0.80 against 0.90 adds 5 %.
        assert_eq!(
            amounts(&bill),
            vec![
                ("energy_peak", dec!(30000), dec!(27000.00)),
                ("energy_flat", dec!(40000), dec!(24000.00)),
                ("energy_valley", dec!(30000), dec!(9000.00)),
                ("basic_capacity", dec!(1000), dec!(25000.00)),
                ("power_factor", dec!(85000.00), dec!(4250.00)),
            ]
        );
        assert_eq!(bill.total, dec!(89250.00));
        // A good power factor earns a reduction; a missing capacity or reactive register is refused.
        let good = tou_segment(dec!(300), dec!(400), dec!(300), dec!(100), dec!(100));
        let bill = november(&[good], std::slice::from_ref(&tariff), Some(dec!(1000))).unwrap();
        assert_eq!(bill.lines.last().unwrap().amount, dec!(-637.50));
        assert_eq!(
            november(std::slice::from_ref(&segment), std::slice::from_ref(&tariff), None),
            Err(BillError::MissingCapacity)
        );
        let mut no_reactive = segment;
        no_reactive.end.reactive = None;
        assert_eq!(november(&[no_reactive], &[tariff], Some(dec!(1000))), Err(BillError::MissingReactive));
    }

    #[test]
    fn a_demand_charge_uses_the_highest_demand_read() {
        let tariff = Tariff {
            code: "demand".into(),
            effective_from: d(2020, 1, 1),
            energy: EnergyPrice::Flat(dec!(0.60)),
            tiers: None,
            basic: Some(BasicCharge::PerKwDemand(dec!(38))),
            power_factor_standard: None,
        };
        let bill = november(&[tou_segment(dec!(1), dec!(1), dec!(1), dec!(0), dec!(1))], &[tariff], None).unwrap();
        assert_eq!(bill.lines[1].kind, LineKind::BasicDemand);
        assert_eq!(bill.lines[1].amount, dec!(30400.00));
    }

    #[test]
    fn a_declared_rollover_counts_past_ten_to_the_digits() {
        let start = Registers { total: dec!(999950), ..Default::default() };
        let end = Registers { total: dec!(30), ..Default::default() };
        let rolled = apply_rollover(&start, &end, 6);
        assert_eq!(rolled.total, dec!(1000030));
        let tariff = [residential(dec!(0.5), d(2020, 1, 1))];
        let seg = Segment { end: rolled, ..meter(dec!(999950), dec!(0)) };
        assert_eq!(november(&[seg], &tariff, None).unwrap().energy_kwh, dec!(80));
        // A register that did not go down stands as read; bands roll over each on their own.
        let start = Registers {
            total: dec!(9990),
            bands: Some(Bands { peak: dec!(9000), flat: dec!(990), valley: dec!(0) }),
            reactive: Some(dec!(5)),
        };
        let end = Registers {
            total: dec!(10),
            bands: Some(Bands { peak: dec!(5), flat: dec!(995), valley: dec!(10) }),
            reactive: Some(dec!(7)),
        };
        let rolled = apply_rollover(&start, &end, 4);
        assert_eq!(rolled.total, dec!(10010));
        assert_eq!(rolled.bands.unwrap().peak, dec!(10005));
        assert_eq!(rolled.bands.unwrap().flat, dec!(995));
        assert_eq!(rolled.reactive, Some(dec!(7)));
    }

    #[test]
    fn tier_allowances_follow_the_versions_in_force() {
        let tariffs = [residential(dec!(0.50), d(2020, 1, 1)), residential(dec!(0.60), d(2026, 11, 16))];
        let a = tier_allowances(&tariffs, d(2026, 11, 1), d(2026, 12, 1));
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].from, a[0].days, a[0].tier1_kwh, a[0].tier2_kwh), (d(2026, 11, 1), 15, dec!(115), dec!(200)));
        assert_eq!((a[1].from, a[1].days), (d(2026, 11, 16), 15));
        assert!(tier_allowances(&[bill_tariff_tou()], d(2026, 11, 1), d(2026, 12, 1)).is_empty());
    }

    #[test]
    fn usage_change_is_a_whole_percentage() {
        assert_eq!(change_percent(dec!(370), dec!(200)), Some(85));
        assert_eq!(change_percent(dec!(100), dec!(200)), Some(-50));
        assert_eq!(change_percent(dec!(100), dec!(0)), None);
    }
}
