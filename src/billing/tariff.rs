//! Tariffs as the bill calculation takes them. One shape serves the three
//! kinds DOMAIN.md names:
//! - residential tiered (阶梯电价): a flat or time-of-use energy price plus
//!   yearly tiers, spread monthly, that add a surcharge per kWh;
//! - time-of-use (峰平谷): peak, flat and valley prices;
//! - two-part (两部制): energy charges plus a basic charge per kVA of capacity
//!   or per kW of maximum demand, with the power-factor adjustment.
//!
//! Pure: no database.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The energy price, yuan per kWh.
#[derive(Clone, Debug, PartialEq)]
pub enum EnergyPrice {
    Flat(Decimal),
    TimeOfUse { peak: Decimal, flat: Decimal, valley: Decimal },
}

impl EnergyPrice {
    /// Time-of-use prices from the flat price and the tenant's ratios
    /// (*default* 1.5 : 1 : 0.5).
    pub fn time_of_use_from_flat(flat: Decimal, ratios: (Decimal, Decimal)) -> Self {
        EnergyPrice::TimeOfUse { peak: flat * ratios.0, flat, valley: flat * ratios.1 }
    }
}

/// Yearly tiers: kWh up to `limits[0]` are tier 1, up to `limits[1]` tier 2,
/// the rest tier 3; tiers 2 and 3 add `surcharges` yuan per kWh. The yearly
/// allowance is spread evenly over the months.
#[derive(Clone, Debug, PartialEq)]
pub struct Tiers {
    pub yearly_limits: [Decimal; 2],
    pub surcharges: [Decimal; 2],
}

impl Tiers {
    /// DOMAIN.md's defaults: 2,760 and 4,800 kWh a year; +0.05 and +0.30 yuan/kWh.
    pub fn national_default() -> Self {
        Self { yearly_limits: [dec!(2760), dec!(4800)], surcharges: [dec!(0.05), dec!(0.30)] }
    }
}

/// The basic charge of a two-part tariff, per month.
#[derive(Clone, Debug, PartialEq)]
pub enum BasicCharge {
    /// Yuan per kVA of contracted capacity.
    PerKva(Decimal),
    /// Yuan per kW of the period's maximum demand.
    PerKwDemand(Decimal),
}

/// A tariff version, in force from `effective_from` until the next version.
#[derive(Clone, Debug, PartialEq)]
pub struct Tariff {
    pub code: String,
    pub effective_from: NaiveDate,
    pub energy: EnergyPrice,
    pub tiers: Option<Tiers>,
    pub basic: Option<BasicCharge>,
    /// The power-factor standard (0.90, 0.85 or 0.80) when the adjustment applies.
    pub power_factor_standard: Option<Decimal>,
}

/// The power-factor adjustment (功率因数调整电费), as a share of the energy and
/// basic charges: negative is a reduction. The national table: against a
/// standard `s`, each 0.01 above it reduces the bill by a step until a cap; each
/// 0.01 below adds 0.5 % down to `s − 0.20`, then 1 % for five more steps, then 2 %.
/// `power_factor` is rounded to two decimals first, as the table reads it.
pub fn power_factor_adjustment(standard: Decimal, power_factor: Decimal) -> Decimal {
    let pf = power_factor.round_dp(2);
    // Steps of 0.01 from the standard (positive: better than standard).
    let steps = rust_decimal::prelude::ToPrimitive::to_i64(&((pf - standard) * dec!(100)).round()).unwrap_or(0);
    if steps >= 0 {
        // Reductions (%), from the national table for each standard.
        let table: &[Decimal] = if standard == dec!(0.90) {
            &[dec!(0.15), dec!(0.30), dec!(0.45), dec!(0.60), dec!(0.75)]
        } else if standard == dec!(0.85) {
            &[dec!(0.1), dec!(0.2), dec!(0.3), dec!(0.4), dec!(0.5), dec!(0.65), dec!(0.8), dec!(0.95), dec!(1.1)]
        } else {
            &[
                dec!(0.1),
                dec!(0.2),
                dec!(0.3),
                dec!(0.4),
                dec!(0.5),
                dec!(0.6),
                dec!(0.7),
                dec!(0.8),
                dec!(0.9),
                dec!(1.0),
                dec!(1.15),
                dec!(1.3),
            ]
        };
        return match steps {
            0 => Decimal::ZERO,
            n => -table[(n as usize).min(table.len()) - 1] / dec!(100),
        };
    }
    let below = -steps;
    let percent = if below <= 20 {
        Decimal::from(below) * dec!(0.5)
    } else if below <= 25 {
        dec!(10) + Decimal::from(below - 20)
    } else {
        dec!(15) + Decimal::from(below - 25) * dec!(2)
    };
    percent / dec!(100)
}

/// The power factor of a period from active and reactive energy.
pub fn power_factor(active_kwh: Decimal, reactive_kvarh: Decimal) -> Option<Decimal> {
    use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
    let p = active_kwh.to_f64()?;
    let q = reactive_kvarh.to_f64()?;
    if p <= 0.0 {
        return None;
    }
    Decimal::from_f64(p / (p * p + q * q).sqrt()).map(|pf| pf.round_dp(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_itself_is_neither_reward_nor_penalty() {
        for s in [dec!(0.90), dec!(0.85), dec!(0.80)] {
            assert_eq!(power_factor_adjustment(s, s), Decimal::ZERO);
        }
    }

    #[test]
    fn above_standard_reduces_up_to_the_cap() {
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.91)), dec!(-0.0015));
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.95)), dec!(-0.0075));
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(1.00)), dec!(-0.0075));
        assert_eq!(power_factor_adjustment(dec!(0.85), dec!(0.94)), dec!(-0.011));
        assert_eq!(power_factor_adjustment(dec!(0.80), dec!(0.92)), dec!(-0.013));
    }

    #[test]
    fn below_standard_adds_half_a_percent_then_one_then_two() {
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.89)), dec!(0.005));
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.70)), dec!(0.10));
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.69)), dec!(0.11));
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.65)), dec!(0.15));
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.64)), dec!(0.17));
        // Read to two decimals: 0.894 is 0.89.
        assert_eq!(power_factor_adjustment(dec!(0.90), dec!(0.894)), dec!(0.005));
    }

    #[test]
    fn power_factor_from_energies() {
        assert_eq!(power_factor(dec!(1000), dec!(0)), Some(dec!(1)));
        assert_eq!(power_factor(dec!(1000), dec!(750)), Some(dec!(0.80)));
        assert_eq!(power_factor(dec!(0), dec!(10)), None);
    }
}
