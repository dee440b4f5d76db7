//! Peak shifting (错峰): how much of a large customer's peak-band load could
//! move to the valley, what moving a share of it would save them under their
//! time-of-use prices, and what it would take off the company's peak.
//!
//! The method, stated on the report:
//! - **Base load** is the customer's average load in the valley band: what
//!   runs through the night (continuous processes, lighting, standby) is
//!   taken as load that cannot move.
//! - **Movable peak energy** is the peak-band energy above the base load,
//!   Σ over peak quarters of max(0, kW − base) / 4.
//! - **Moving a share s** moves s × movable energy from peak to valley; the
//!   saving is that energy × (peak price − valley price). A customer on a
//!   flat price saves nothing by moving (the report says so).
//! - **The cut in the company's peak** is s × the customer's load above its
//!   base at the company's peak quarter (the quarter of the highest total load
//!   of the large customers' typical weekday), when that quarter is in the peak band.

use rust_decimal::{Decimal, prelude::FromPrimitive};

use super::{Band, Bands, Day, QUARTERS, quarter_start, typical_day};

/// Time-of-use prices, yuan per kWh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TouPrices {
    pub peak: Decimal,
    pub valley: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Days of data the estimate rests on.
    pub days: usize,
    pub peak_kwh: f64,
    pub base_kw: f64,
    pub movable_kwh: f64,
    /// The share asked for, 0–1, and the energy it moves.
    pub share: f64,
    pub moved_kwh: f64,
    /// Yuan over the period and over a year at the same rate; zero on a flat price.
    pub saving: Decimal,
    pub saving_per_year: Decimal,
    pub on_time_of_use: bool,
    /// The customer's load above its base at the company's peak quarter, and the cut.
    pub at_system_peak_kw: f64,
    pub peak_cut_kw: f64,
}

/// The estimate over `days`; `None` without any valley and peak readings.
pub fn estimate(
    days: &[Day],
    bands: &Bands,
    prices: Option<TouPrices>,
    share: f64,
    system_peak_quarter: Option<usize>,
) -> Option<Estimate> {
    let band: Vec<Band> = (0..QUARTERS).map(|q| bands.band_at(quarter_start(q))).collect();
    let valley: Vec<f64> = days
        .iter()
        .flat_map(|d| d.kw.iter().zip(&band).filter(|(_, b)| **b == Band::Valley).filter_map(|(v, _)| *v))
        .collect();
    if valley.is_empty() {
        return None;
    }
    let base_kw = valley.iter().sum::<f64>() / valley.len() as f64;
    let (mut peak_kwh, mut movable_kwh, mut peak_read) = (0.0, 0.0, false);
    for d in days {
        for (v, b) in d.kw.iter().zip(&band) {
            if let (Some(v), Band::Peak) = (v, b) {
                peak_read = true;
                peak_kwh += v / 4.0;
                movable_kwh += (v - base_kw).max(0.0) / 4.0;
            }
        }
    }
    if !peak_read {
        return None;
    }
    let share = share.clamp(0.0, 1.0);
    let moved_kwh = movable_kwh * share;
    let saving = match prices {
        Some(p) => (Decimal::from_f64(moved_kwh).unwrap_or_default() * (p.peak - p.valley)).round_dp(2),
        None => Decimal::ZERO,
    };
    let saving_per_year = if days.is_empty() {
        Decimal::ZERO
    } else {
        (saving * Decimal::from(365) / Decimal::from(days.len())).round_dp(2)
    };
    let at_system_peak_kw = system_peak_quarter
        .filter(|q| band.get(*q) == Some(&Band::Peak))
        .and_then(|q| typical_day(days.iter().filter(|d| !d.is_weekend())).get(q).copied().flatten())
        .map_or(0.0, |kw| (kw - base_kw).max(0.0));
    Some(Estimate {
        days: days.len(),
        peak_kwh,
        base_kw,
        movable_kwh,
        share,
        moved_kwh,
        saving,
        saving_per_year,
        on_time_of_use: prices.is_some(),
        at_system_peak_kw,
        peak_cut_kw: at_system_peak_kw * share,
    })
}

/// The quarter of the highest value of a typical day (the company's peak).
pub fn peak_quarter(typical: &[Option<f64>]) -> Option<usize> {
    typical
        .iter()
        .enumerate()
        .filter_map(|(q, v)| v.map(|v| (q, v)))
        .fold(None, |best: Option<(usize, f64)>, (q, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((q, v)),
        })
        .map(|(q, _)| q)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    /// A weekday at 100 kW with 300 kW from 08:00 to 11:00 (a peak band).
    fn day(d: &str) -> Day {
        Day {
            day: d.parse().unwrap(),
            kw: (0..QUARTERS).map(|q| Some(if (32..44).contains(&q) { 300.0 } else { 100.0 })).collect(),
        }
    }

    #[test]
    fn a_hand_computed_estimate() {
        let days = [day("2026-11-02"), day("2026-11-03")];
        let prices = TouPrices { peak: dec!(1.2), valley: dec!(0.4) };
        let e = estimate(&days, &Bands::default(), Some(prices), 0.25, Some(36)).unwrap();
        assert_eq!(e.base_kw, 100.0, "the valley's average");
        // Peak bands 08–11 (300 kW, 3 h) and 18–23 (100 kW, 5 h), per day: 900 + 500 kWh.
        assert_eq!(e.peak_kwh, 2800.0);
        // Above the base only 08–11: 200 kW × 3 h × 2 days.
        assert_eq!(e.movable_kwh, 1200.0);
        assert_eq!(e.moved_kwh, 300.0);
        assert_eq!(e.saving, dec!(240.00), "300 kWh × 0.8");
        assert_eq!(e.saving_per_year, dec!(43800.00), "240 × 365 / 2");
        assert_eq!((e.at_system_peak_kw, e.peak_cut_kw), (200.0, 50.0));
        // On a flat price nothing is saved, and outside the peak band the company's peak is not cut.
        let flat = estimate(&days, &Bands::default(), None, 0.25, Some(50)).unwrap();
        assert_eq!((flat.saving, flat.on_time_of_use, flat.peak_cut_kw), (Decimal::ZERO, false, 0.0));
    }

    #[test]
    fn no_estimate_without_readings_and_the_peak_quarter_is_the_highest() {
        let empty = Day { day: "2026-11-02".parse().unwrap(), kw: vec![None; QUARTERS] };
        assert_eq!(estimate(&[empty], &Bands::default(), None, 0.2, None), None);
        assert_eq!(peak_quarter(&[Some(1.0), None, Some(5.0), Some(5.0), Some(2.0)]), Some(2));
        assert_eq!(peak_quarter(&[None, None]), None);
    }
}
