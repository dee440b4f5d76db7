//! Tariff analysis (电价波动分析): which tariff would have been cheapest for a
//! customer, the average price per kWh by class and how it moved, and what a
//! proposed price change would do to revenue. This module holds the pure
//! rules; `db` reads the facts set-based, `pages` and `api` are thin.
//!
//! ## Recommendation
//! A customer's last 12 complete months (their issued bills: kWh, the
//! time-of-use split from the bill lines, the bill's power factor; the
//! month's maximum demand from the meter readings, else from `load_days`)
//! are priced again under every applicable tariff with billing's own bill
//! calculation ([`crate::billing::calc::calculate`]) and power-factor table.
//!
//! Applicable tariffs: DOMAIN.md's three kinds do not mix — a residential
//! tiered tariff is for households, a two-part tariff for large industry, a
//! single-part tariff for the rest — and a tariff category is for certain
//! customer classes. So the candidates are the tenant's tariff categories
//! that some customer of the same class is on, of the same kind as the
//! customer's own (tiered, two-part or single-part, by their newest
//! version), flat or time-of-use alike, and the customer's own; for
//! two-part tariffs, both basic-charge options: per kVA of capacity and per kW
//! of the month's maximum demand. A version carries one basic price; the other
//! option's price is derived with [`DEMAND_PRICE_RATIO`] (the demand price is
//! 1.5 times the capacity price, the national rule of thumb), and every
//! option shows the price it used.
//!
//! ## Mix and rate effects
//! With `s` a class's share of the kWh and `p` its average price (revenue /
//! kWh), the overall average is `P = Σ s·p`. Between two periods (0, 1):
//! - rate effect `= Σ (p1 − p0) · (s0 + s1) / 2`
//! - mix effect  `= Σ (s1 − s0) · (p0 + p1) / 2`
//!
//! the symmetric (Shapley) two-factor split: the interaction term is shared
//! half and half, and `mix + rate = Σ s1·p1 − Σ s0·p0` exactly. A class
//! present in one period only takes the same price in the other (its whole
//! contribution is mix). Prices are taken to 6 decimals and shares to 8, so
//! every product and half is exact in decimal arithmetic.

pub mod api;
pub mod db;
pub mod pages;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde::Serialize;

use crate::billing::{
    calc::{self, Bands, BillError, BillInput, Registers, Segment, money},
    tariff::{BasicCharge, Tariff, power_factor_adjustment},
};

/// The demand price per kW over the capacity price per kVA, to derive the
/// option a tariff version does not state.
pub const DEMAND_PRICE_RATIO: Decimal = dec!(1.5);

/// Months of usage the recommendation prices.
pub const RECOMMENDATION_MONTHS: u32 = 12;

/// The two basic-charge options of a two-part tariff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum BasicOption {
    #[serde(rename = "per_kva")]
    Capacity,
    #[serde(rename = "per_kw_demand")]
    Demand,
}

impl BasicOption {
    pub fn as_str(self) -> &'static str {
        match self {
            BasicOption::Capacity => "per_kva",
            BasicOption::Demand => "per_kw_demand",
        }
    }
    fn of(basic: &BasicCharge) -> Self {
        match basic {
            BasicCharge::PerKva(_) => BasicOption::Capacity,
            BasicCharge::PerKwDemand(_) => BasicOption::Demand,
        }
    }
}

/// A tariff version with its basic charge taken by `option`; the price of
/// the option the version does not state is derived with [`DEMAND_PRICE_RATIO`].
pub fn with_option(tariff: &Tariff, option: Option<BasicOption>) -> Tariff {
    let basic = match (&tariff.basic, option) {
        (None, _) | (_, None) => tariff.basic.clone(),
        (Some(BasicCharge::PerKva(p)), Some(BasicOption::Capacity)) => Some(BasicCharge::PerKva(*p)),
        (Some(BasicCharge::PerKwDemand(p)), Some(BasicOption::Demand)) => Some(BasicCharge::PerKwDemand(*p)),
        (Some(BasicCharge::PerKva(p)), Some(BasicOption::Demand)) => {
            Some(BasicCharge::PerKwDemand((p * DEMAND_PRICE_RATIO).round_dp(4)))
        }
        (Some(BasicCharge::PerKwDemand(p)), Some(BasicOption::Capacity)) => {
            Some(BasicCharge::PerKva((p / DEMAND_PRICE_RATIO).round_dp(4)))
        }
    };
    Tariff { basic, ..tariff.clone() }
}

/// One month of a customer's usage, as the bills and readings tell it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthUsage {
    pub month: NaiveDate,
    pub kwh: Decimal,
    /// Peak, flat and valley kWh, when the month's bill split them.
    #[schema(value_type = Option<Object>)]
    #[serde(serialize_with = "ser_bands")]
    pub bands: Option<Bands>,
    /// The month's maximum demand (kW), when read.
    pub max_demand_kw: Option<Decimal>,
    /// The power factor the month's bill used.
    pub power_factor: Option<Decimal>,
    /// What the customer was billed for the month.
    pub billed: Decimal,
}

fn ser_bands<S: serde::Serializer>(bands: &Option<Bands>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct B {
        peak: Decimal,
        flat: Decimal,
        valley: Decimal,
    }
    bands.map(|b| B { peak: b.peak, flat: b.flat, valley: b.valley }).serialize(s)
}

/// Why an option could not be priced: the usage lacks what it charges by.
pub const MISSING: [&str; 4] = ["no_bands", "no_capacity", "no_demand", "no_tariff"];

fn missing(err: &BillError) -> &'static str {
    match err {
        BillError::MissingBands(_) => "no_bands",
        BillError::MissingCapacity => "no_capacity",
        BillError::MissingDemand => "no_demand",
        _ => "no_tariff",
    }
}

/// The cost of one month under a tariff's versions: billing's calculation on
/// the month's usage, then the power-factor adjustment on the month's power
/// factor (none when the bill had none).
pub fn month_cost(
    usage: &MonthUsage,
    versions: &[Tariff],
    capacity_kva: Option<Decimal>,
) -> Result<Decimal, BillError> {
    let until = crate::months::next(usage.month);
    let standard = versions.iter().filter(|t| t.effective_from < until).max_by_key(|t| t.effective_from);
    let standard = standard.and_then(|t| t.power_factor_standard);
    // The calculation wants the reactive energy; the bill kept the power factor itself.
    let stripped: Vec<Tariff> = versions.iter().map(|t| Tariff { power_factor_standard: None, ..t.clone() }).collect();
    let segment = Segment {
        meter: String::new(),
        multiplier: Decimal::ONE,
        start: Registers { total: Decimal::ZERO, bands: usage.bands.map(|_| Bands::default()), reactive: None },
        end: Registers { total: usage.kwh, bands: usage.bands, reactive: None },
        max_demand_kw: usage.max_demand_kw,
    };
    let segments = [segment];
    let bill = calc::calculate(&BillInput {
        from: usage.month,
        until,
        segments: &segments,
        tariffs: &stripped,
        capacity_kva,
    })?;
    let adjustment = match (standard, usage.power_factor) {
        (Some(standard), Some(pf)) => money(bill.total * power_factor_adjustment(standard, pf)),
        _ => Decimal::ZERO,
    };
    Ok(bill.total + adjustment)
}

/// The tariff's kind, for which tariffs may replace which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TariffKind {
    Tiered,
    TwoPart,
    SinglePart,
}

/// The kind of a tariff by its newest version.
pub fn kind(versions: &[Tariff]) -> Option<TariffKind> {
    let newest = versions.iter().max_by_key(|t| t.effective_from)?;
    Some(if newest.tiers.is_some() {
        TariffKind::Tiered
    } else if newest.basic.is_some() {
        TariffKind::TwoPart
    } else {
        TariffKind::SinglePart
    })
}

/// Keeps the customer's own tariff and those some customer of their class is
/// on: an agricultural tariff is no option for a shop, though both are single-part.
pub fn keep_class_tariffs(tariffs: &mut BTreeMap<String, Vec<Tariff>>, own_code: &str, in_class: &[String]) {
    tariffs.retain(|code, _| code == own_code || in_class.contains(code));
}

/// The options to price: every tariff of the customer's own tariff's kind,
/// each two-part one with both basic-charge options. Sorted by code.
pub fn applicable(own_code: &str, tariffs: &BTreeMap<String, Vec<Tariff>>) -> Vec<(String, Option<BasicOption>)> {
    let Some(own) = tariffs.get(own_code).and_then(|v| kind(v)) else { return Vec::new() };
    let mut out = Vec::new();
    for (code, versions) in tariffs {
        if kind(versions) != Some(own) {
            continue;
        }
        if own == TariffKind::TwoPart {
            out.push((code.clone(), Some(BasicOption::Capacity)));
            out.push((code.clone(), Some(BasicOption::Demand)));
        } else {
            out.push((code.clone(), None));
        }
    }
    out
}

/// One option priced over the months.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OptionCost {
    pub tariff_code: String,
    /// per_kva or per_kw_demand for a two-part tariff, else null.
    pub basic_option: Option<BasicOption>,
    /// The basic charge's price in the newest version (yuan per kVA or per kW a month).
    pub basic_price: Option<Decimal>,
    /// The cost over the months; null when it could not be priced.
    pub total: Option<Decimal>,
    /// Each month's cost, in the order of the months priced (those left out excluded).
    pub months: Vec<Decimal>,
    /// Why it could not be priced: no_bands, no_capacity, no_demand or no_tariff.
    pub missing: Option<&'static str>,
    /// The customer's tariff and option now.
    pub current: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// The options, cheapest first; those that could not be priced last.
    pub options: Vec<OptionCost>,
    /// The cheapest option's index in `options` (0), when any was priced.
    pub best: Option<usize>,
    /// What the customer's current option costs more than the cheapest (0 when it is the cheapest).
    pub saving: Option<Decimal>,
    /// Months some option could not price, left out of every total.
    pub left_out: Vec<NaiveDate>,
}

/// An option's cost in each month, or why that month could not be priced.
type MonthCosts = Vec<Result<Decimal, BillError>>;

/// Prices every applicable option over `months` and names the cheapest. The
/// current option is the customer's tariff with the basic option of its
/// newest version. Ties go to the current option, then by code.
pub fn recommend(
    months: &[MonthUsage],
    own_code: &str,
    tariffs: &BTreeMap<String, Vec<Tariff>>,
    capacity_kva: Option<Decimal>,
) -> Recommendation {
    let own_option = tariffs
        .get(own_code)
        .and_then(|v| v.iter().max_by_key(|t| t.effective_from))
        .and_then(|t| t.basic.as_ref())
        .map(BasicOption::of);
    // Each option's cost month by month; a month some option cannot price
    // (no time-of-use split, no demand read) is left out of every total, so
    // that all are compared over the same months. An option that can price
    // no month at all is listed with what it lacks instead.
    let priced: Vec<(String, Option<BasicOption>, MonthCosts)> = applicable(own_code, tariffs)
        .into_iter()
        .map(|(code, option)| {
            let versions: Vec<Tariff> = tariffs[&code].iter().map(|t| with_option(t, option)).collect();
            let costs = months.iter().map(|m| month_cost(m, &versions, capacity_kva)).collect();
            (code, option, costs)
        })
        .collect();
    let can_price = |costs: &[Result<Decimal, BillError>]| costs.iter().any(Result::is_ok);
    let common: Vec<usize> = (0..months.len())
        .filter(|&i| priced.iter().filter(|(_, _, c)| can_price(c)).all(|(_, _, c)| c[i].is_ok()))
        .collect();
    let left_out: Vec<NaiveDate> = if common.is_empty() {
        Vec::new()
    } else {
        months.iter().enumerate().filter(|(i, _)| !common.contains(i)).map(|(_, m)| m.month).collect()
    };
    let mut options: Vec<OptionCost> = priced
        .into_iter()
        .map(|(code, option, costs)| {
            let basic_price = tariffs[&code].iter().max_by_key(|t| t.effective_from).and_then(|t| {
                match with_option(t, option).basic {
                    Some(BasicCharge::PerKva(p)) | Some(BasicCharge::PerKwDemand(p)) => Some(p),
                    None => None,
                }
            });
            let current = code == own_code && option == own_option;
            let in_common: Vec<Decimal> = common.iter().filter_map(|&i| costs[i].as_ref().ok().copied()).collect();
            let first_error = costs.iter().find_map(|c| c.as_ref().err()).map(missing);
            let (total, months, missing) = if !common.is_empty() && in_common.len() == common.len() {
                (Some(in_common.iter().sum()), in_common, None)
            } else {
                (None, Vec::new(), first_error)
            };
            OptionCost { tariff_code: code, basic_option: option, basic_price, total, months, missing, current }
        })
        .collect();
    options.sort_by(|a, b| match (a.total, b.total) {
        (Some(x), Some(y)) => x.cmp(&y).then(b.current.cmp(&a.current)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let best = options.first().and_then(|o| o.total).map(|_| 0);
    let saving = match (best, options.iter().find(|o| o.current).and_then(|o| o.total)) {
        (Some(b), Some(current)) => options[b].total.map(|cheapest| current - cheapest),
        _ => None,
    };
    Recommendation { options, best, saving, left_out }
}

// ------------------------------------------------------------ mix and rate

/// A class's kWh and revenue over a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassTotal {
    pub class_code: String,
    pub kwh: Decimal,
    pub revenue: Decimal,
}

/// Average price per kWh, yuan, to 6 decimals; None without kWh.
pub fn average_price(revenue: Decimal, kwh: Decimal) -> Option<Decimal> {
    (kwh > Decimal::ZERO).then(|| (revenue / kwh).round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero))
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassEffect {
    pub class_code: String,
    pub share_before: Decimal,
    pub share_after: Decimal,
    /// None when the class had no kWh in that period.
    pub price_before: Option<Decimal>,
    pub price_after: Option<Decimal>,
    pub mix: Decimal,
    pub rate: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decomposition {
    /// Σ s·p of each period (the average price per kWh).
    pub before: Decimal,
    pub after: Decimal,
    /// after − before = mix + rate, exactly.
    pub total: Decimal,
    pub mix: Decimal,
    pub rate: Decimal,
    pub classes: Vec<ClassEffect>,
}

impl Decomposition {
    /// (total, mix, rate) to 4 decimals for display, still adding up: the
    /// total and rate are rounded, and the mix is the difference.
    pub fn rounded(&self) -> (Decimal, Decimal, Decimal) {
        let r = |d: Decimal| d.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
        let (total, rate) = (r(self.total), r(self.rate));
        (total, total - rate, rate)
    }
}

/// The change of the average price between two periods split into mix and
/// rate effects (see the module's documentation). None when a period has no kWh.
pub fn decompose(before: &[ClassTotal], after: &[ClassTotal]) -> Option<Decomposition> {
    let sum = |rows: &[ClassTotal]| rows.iter().map(|r| r.kwh).sum::<Decimal>();
    let (kwh0, kwh1) = (sum(before), sum(after));
    if kwh0 <= Decimal::ZERO || kwh1 <= Decimal::ZERO {
        return None;
    }
    let share =
        |kwh: Decimal, all: Decimal| (kwh / all).round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero);
    let mut classes: BTreeMap<&str, (Option<&ClassTotal>, Option<&ClassTotal>)> = BTreeMap::new();
    for r in before {
        classes.entry(&r.class_code).or_default().0 = Some(r);
    }
    for r in after {
        classes.entry(&r.class_code).or_default().1 = Some(r);
    }
    let two = dec!(2);
    let mut out = Decomposition {
        before: Decimal::ZERO,
        after: Decimal::ZERO,
        total: Decimal::ZERO,
        mix: Decimal::ZERO,
        rate: Decimal::ZERO,
        classes: Vec::new(),
    };
    for (code, (b, a)) in classes {
        let s0 = b.map_or(Decimal::ZERO, |r| share(r.kwh, kwh0));
        let s1 = a.map_or(Decimal::ZERO, |r| share(r.kwh, kwh1));
        let p0 = b.and_then(|r| average_price(r.revenue, r.kwh));
        let p1 = a.and_then(|r| average_price(r.revenue, r.kwh));
        // A class in one period only: the same price in the other.
        let (q0, q1) = match (p0, p1) {
            (Some(x), Some(y)) => (x, y),
            (Some(x), None) => (x, x),
            (None, Some(y)) => (y, y),
            (None, None) => (Decimal::ZERO, Decimal::ZERO),
        };
        let mix = (s1 - s0) * (q0 + q1) / two;
        let rate = (q1 - q0) * (s0 + s1) / two;
        out.before += s0 * q0;
        out.after += s1 * q1;
        out.mix += mix;
        out.rate += rate;
        out.classes.push(ClassEffect {
            class_code: code.to_owned(),
            share_before: s0,
            share_after: s1,
            price_before: p0,
            price_after: p1,
            mix,
            rate,
        });
    }
    out.total = out.after - out.before;
    Some(out)
}

// ------------------------------------------------------------------ what-if

/// The bill lines a price change applies to: the energy charges.
pub const ENERGY_LINES: [&str; 4] = ["energy", "energy_peak", "energy_flat", "energy_valley"];

/// A proposed change of the energy prices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PriceChange {
    /// Percent of each price (+5 = 5 % dearer).
    Percent(Decimal),
    /// Yuan per kWh added to each price.
    Absolute(Decimal),
}

pub const CHANGE_KINDS: [&str; 2] = ["percent", "absolute"];

impl PriceChange {
    /// The new unit price (to 6 decimals, as bill lines keep it; never below 0).
    pub fn apply(self, price: Decimal) -> Decimal {
        let new = match self {
            PriceChange::Percent(p) => price * (dec!(100) + p) / dec!(100),
            PriceChange::Absolute(a) => price + a,
        };
        new.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero).max(Decimal::ZERO)
    }
}

/// kWh billed at one unit price (energy lines), for one class or customer.
#[derive(Clone, Debug, PartialEq)]
pub struct PricedKwh<K> {
    pub key: K,
    pub unit_price: Decimal,
    pub kwh: Decimal,
}

/// What a key (class or customer) was billed over the year.
#[derive(Clone, Debug, PartialEq)]
pub struct Billed<K> {
    pub key: K,
    pub kwh: Decimal,
    pub billed: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Effect<K> {
    pub key: K,
    pub kwh: Decimal,
    pub billed: Decimal,
    /// The change of revenue (yuan): each price group's kWh × price change, to the fen.
    pub effect: Decimal,
    pub after: Decimal,
    /// effect / billed in percent, 2 decimals; None when nothing was billed.
    pub percent: Option<Decimal>,
}

impl<K> Effect<K> {
    fn new(key: K, kwh: Decimal, billed: Decimal, effect: Decimal) -> Self {
        let percent = (billed != Decimal::ZERO)
            .then(|| (effect * dec!(100) / billed).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero));
        Effect { key, kwh, billed, effect, after: billed + effect, percent }
    }
}

/// The revenue effect of `change` per key and overall (the overall is the
/// sum of the keys', so they add up).
pub fn what_if<K: Clone + Ord>(
    priced: &[PricedKwh<K>],
    billed: &[Billed<K>],
    change: PriceChange,
) -> (Vec<Effect<K>>, Effect<()>) {
    let mut effects: BTreeMap<K, Decimal> = BTreeMap::new();
    for p in priced {
        *effects.entry(p.key.clone()).or_default() += money(p.kwh * (change.apply(p.unit_price) - p.unit_price));
    }
    let rows: Vec<Effect<K>> = billed
        .iter()
        .map(|b| Effect::new(b.key.clone(), b.kwh, b.billed, effects.get(&b.key).copied().unwrap_or_default()))
        .collect();
    let all = Effect::new(
        (),
        rows.iter().map(|r| r.kwh).sum(),
        rows.iter().map(|r| r.billed).sum(),
        rows.iter().map(|r| r.effect).sum(),
    );
    (rows, all)
}

#[cfg(test)]
mod tests;
