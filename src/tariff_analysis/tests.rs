use super::*;
use crate::billing::tariff::{EnergyPrice, Tiers};

fn d(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap()
}

fn two_part(basic: BasicCharge) -> Tariff {
    Tariff {
        code: "large_two_part".into(),
        effective_from: d(2020, 1),
        energy: EnergyPrice::TimeOfUse { peak: dec!(0.9), flat: dec!(0.6), valley: dec!(0.3) },
        tiers: None,
        basic: Some(basic),
        power_factor_standard: Some(dec!(0.90)),
    }
}

fn flat(code: &str, price: Decimal) -> Tariff {
    Tariff {
        code: code.into(),
        effective_from: d(2020, 1),
        energy: EnergyPrice::Flat(price),
        tiers: None,
        basic: None,
        power_factor_standard: None,
    }
}

fn month(m: u32, demand: Decimal, pf: Decimal) -> MonthUsage {
    MonthUsage {
        month: d(2025, m),
        kwh: dec!(40000),
        bands: Some(Bands { peak: dec!(10000), flat: dec!(20000), valley: dec!(10000) }),
        max_demand_kw: Some(demand),
        power_factor: Some(pf),
        billed: dec!(54000),
    }
}

fn year(demand: Decimal) -> Vec<MonthUsage> {
    (1..=12).map(|m| month(m, demand, dec!(0.90))).collect()
}

fn tariffs(list: Vec<Tariff>) -> BTreeMap<String, Vec<Tariff>> {
    let mut map: BTreeMap<String, Vec<Tariff>> = BTreeMap::new();
    for t in list {
        map.entry(t.code.clone()).or_default().push(t);
    }
    map
}

#[test]
fn the_other_basic_option_is_derived_with_the_ratio() {
    let t = two_part(BasicCharge::PerKva(dec!(30)));
    assert_eq!(with_option(&t, Some(BasicOption::Demand)).basic, Some(BasicCharge::PerKwDemand(dec!(45))));
    assert_eq!(with_option(&t, Some(BasicOption::Capacity)).basic, Some(BasicCharge::PerKva(dec!(30))));
    let t = two_part(BasicCharge::PerKwDemand(dec!(40)));
    assert_eq!(with_option(&t, Some(BasicOption::Capacity)).basic, Some(BasicCharge::PerKva(dec!(26.6667))));
    assert_eq!(with_option(&flat("x", dec!(1)), Some(BasicOption::Demand)).basic, None);
}

#[test]
fn a_month_costs_energy_by_band_plus_the_basic_charge_and_power_factor() {
    // 10,000 × 0.9 + 20,000 × 0.6 + 10,000 × 0.3 = 24,000; 1,000 kVA × 30 = 30,000.
    let capacity = [two_part(BasicCharge::PerKva(dec!(30)))];
    assert_eq!(month_cost(&month(1, dec!(600), dec!(0.90)), &capacity, Some(dec!(1000))), Ok(dec!(54000)));
    // Demand: 600 kW × 45 = 27,000.
    let demand = [with_option(&capacity[0], Some(BasicOption::Demand))];
    assert_eq!(month_cost(&month(1, dec!(600), dec!(0.90)), &demand, Some(dec!(1000))), Ok(dec!(51000)));
    // Power factor 0.95 against 0.90: 0.75 % off 54,000 = 405.
    assert_eq!(month_cost(&month(1, dec!(600), dec!(0.95)), &capacity, Some(dec!(1000))), Ok(dec!(53595)));
    // Power factor 0.85: 2.5 % on 51,000 = 1,275.
    assert_eq!(month_cost(&month(1, dec!(600), dec!(0.85)), &demand, Some(dec!(1000))), Ok(dec!(52275)));
    // What is missing is said.
    assert_eq!(month_cost(&month(1, dec!(600), dec!(0.9)), &capacity, None), Err(BillError::MissingCapacity));
    let mut no_bands = month(1, dec!(600), dec!(0.9));
    no_bands.bands = None;
    assert!(matches!(month_cost(&no_bands, &capacity, Some(dec!(1000))), Err(BillError::MissingBands(_))));
}

#[test]
fn demand_is_cheaper_below_two_thirds_of_the_capacity() {
    let map = tariffs(vec![two_part(BasicCharge::PerKva(dec!(30))), flat("commercial_single", dec!(0.66))]);
    // 600 kW: demand 12 × 51,000 = 612,000 against capacity 12 × 54,000 = 648,000.
    let r = recommend(&year(dec!(600)), "large_two_part", &map, Some(dec!(1000)));
    assert_eq!(r.options.len(), 2, "single-part tariffs are not for a two-part customer");
    let best = &r.options[r.best.unwrap()];
    assert_eq!((best.basic_option, best.total), (Some(BasicOption::Demand), Some(dec!(612000))));
    assert_eq!(best.basic_price, Some(dec!(45)));
    let current = r.options.iter().find(|o| o.current).unwrap();
    assert_eq!((current.basic_option, current.total), (Some(BasicOption::Capacity), Some(dec!(648000))));
    assert_eq!(r.saving, Some(dec!(36000)));
    assert_eq!(best.months.len(), 12);
}

#[test]
fn capacity_stays_cheapest_at_a_high_demand() {
    let map = tariffs(vec![two_part(BasicCharge::PerKva(dec!(30)))]);
    // 700 kW × 45 = 31,500 a month against 30,000: capacity, saving nothing.
    let r = recommend(&year(dec!(700)), "large_two_part", &map, Some(dec!(1000)));
    let best = &r.options[0];
    assert!(best.current);
    assert_eq!(best.total, Some(dec!(648000)));
    assert_eq!(r.options[1].total, Some(dec!(12) * dec!(55500)));
    assert_eq!(r.saving, Some(Decimal::ZERO));
}

#[test]
fn an_option_without_its_data_is_listed_last_with_the_reason() {
    let map = tariffs(vec![two_part(BasicCharge::PerKva(dec!(30)))]);
    let mut months = year(dec!(600));
    for m in &mut months {
        m.max_demand_kw = None;
    }
    let r = recommend(&months, "large_two_part", &map, Some(dec!(1000)));
    assert_eq!(r.options[0].basic_option, Some(BasicOption::Capacity));
    assert_eq!(r.options[1].missing, Some("no_demand"));
    assert_eq!(r.options[1].total, None);
    assert_eq!(r.saving, Some(Decimal::ZERO));
    assert!(r.left_out.is_empty(), "an option that prices no month leaves no month out");
    // Nothing to price: no recommendation.
    let r = recommend(&[], "large_two_part", &map, Some(dec!(1000)));
    assert_eq!((r.best, r.saving), (None, None));
}

#[test]
fn a_month_one_option_cannot_price_is_left_out_of_every_total() {
    let map = tariffs(vec![two_part(BasicCharge::PerKva(dec!(30)))]);
    let mut months = year(dec!(600));
    months[3].max_demand_kw = None;
    let all = recommend(&year(dec!(600)), "large_two_part", &map, Some(dec!(1000)));
    let r = recommend(&months, "large_two_part", &map, Some(dec!(1000)));
    assert_eq!(r.left_out, vec![months[3].month]);
    for o in &r.options {
        let whole = all.options.iter().find(|a| a.basic_option == o.basic_option).unwrap();
        assert_eq!(o.months.len(), 11);
        // Every month costs the same here: eleven twelfths of the year's cost.
        assert_eq!(o.total.map(|t| t * dec!(12)), whole.total.map(|t| t * dec!(11)), "{o:?}");
        assert_eq!(o.missing, None);
    }
}

#[test]
fn single_part_customers_compare_flat_and_time_of_use() {
    let tou = Tariff {
        energy: EnergyPrice::TimeOfUse { peak: dec!(0.99), flat: dec!(0.66), valley: dec!(0.33) },
        ..flat("commercial_tou", dec!(0.66))
    };
    let map = tariffs(vec![flat("commercial_single", dec!(0.66)), tou, two_part(BasicCharge::PerKva(dec!(30)))]);
    let mut m = month(1, dec!(100), dec!(0.9));
    // 1,000 peak, 2,000 flat, 3,000 valley: TOU 990 + 1,320 + 990 = 3,300; flat 6,000 × 0.66 = 3,960.
    m.kwh = dec!(6000);
    m.bands = Some(Bands { peak: dec!(1000), flat: dec!(2000), valley: dec!(3000) });
    let r = recommend(&[m], "commercial_single", &map, None);
    assert_eq!(r.options.len(), 2);
    assert_eq!(r.options[0].tariff_code, "commercial_tou");
    assert_eq!(r.options[0].total, Some(dec!(3300)));
    assert_eq!(r.saving, Some(dec!(660)));
}

#[test]
fn tiered_tariffs_compare_among_themselves() {
    let tiered = Tariff { tiers: Some(Tiers::national_default()), ..flat("res_tiered", dec!(0.538)) };
    let map = tariffs(vec![tiered, flat("commercial_single", dec!(0.66))]);
    assert_eq!(applicable("res_tiered", &map), vec![("res_tiered".to_owned(), None)]);
    assert_eq!(applicable("unknown", &map), vec![]);
}

fn class(code: &str, kwh: Decimal, revenue: Decimal) -> ClassTotal {
    ClassTotal { class_code: code.into(), kwh, revenue }
}

#[test]
fn mix_and_rate_effects_on_a_hand_computed_case() {
    // Before: A 100 kWh at 0.5, B 100 kWh at 1.0 → shares ½ ½, average 0.75.
    // After: A 300 kWh at 0.55, B 100 kWh at 1.0 → shares ¾ ¼, average 0.6625.
    let before = [class("A", dec!(100), dec!(50)), class("B", dec!(100), dec!(100))];
    let after = [class("A", dec!(300), dec!(165)), class("B", dec!(100), dec!(100))];
    let r = decompose(&before, &after).unwrap();
    assert_eq!(r.before, dec!(0.75));
    assert_eq!(r.after, dec!(0.6625));
    assert_eq!(r.total, dec!(-0.0875));
    // Mix: A ¼ × 1.05 / 2 = 0.13125, B −¼ × 2 / 2 = −0.25; rate: A 0.05 × 1.25 / 2.
    assert_eq!(r.mix, dec!(-0.11875));
    assert_eq!(r.rate, dec!(0.03125));
    assert_eq!(r.classes[0].mix, dec!(0.13125));
    assert_eq!(r.rounded(), (dec!(-0.0875), dec!(-0.1188), dec!(0.0313)));
    let (t, m, rt) = r.rounded();
    assert_eq!(m + rt, t);
}

#[test]
fn mix_and_rate_always_add_up_to_the_total_exactly() {
    // Awkward figures (thirds, sevenths, classes coming and going).
    let mut seed: u64 = 17;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for _ in 0..200 {
        let mut periods = [Vec::new(), Vec::new()];
        for p in &mut periods {
            for code in ["residential", "commercial", "large_industry", "agriculture"] {
                if next(5) == 0 {
                    continue;
                }
                let kwh = Decimal::new(next(10_000_000) as i64 + 1, 2);
                let price = Decimal::new(next(20_000) as i64, 5) + dec!(0.1);
                p.push(class(code, kwh, money(kwh * price / dec!(3))));
            }
        }
        let Some(r) = decompose(&periods[0], &periods[1]) else { continue };
        assert_eq!(r.mix + r.rate, r.total, "{r:?}");
        assert_eq!(r.classes.iter().map(|c| c.mix + c.rate).sum::<Decimal>(), r.total);
        let (t, m, rt) = r.rounded();
        assert_eq!(m + rt, t);
    }
}

#[test]
fn a_class_in_one_period_only_is_all_mix() {
    let before = [class("A", dec!(100), dec!(50))];
    let after = [class("A", dec!(100), dec!(50)), class("B", dec!(100), dec!(100))];
    let r = decompose(&before, &after).unwrap();
    assert_eq!(r.total, dec!(0.25));
    assert_eq!(r.rate, Decimal::ZERO);
    assert_eq!(r.mix, dec!(0.25));
    assert_eq!(decompose(&[], &after), None);
}

#[test]
fn price_changes_apply_to_each_price() {
    assert_eq!(PriceChange::Percent(dec!(10)).apply(dec!(0.5)), dec!(0.55));
    assert_eq!(PriceChange::Percent(dec!(-3)).apply(dec!(0.6644)), dec!(0.644468));
    assert_eq!(PriceChange::Absolute(dec!(0.01)).apply(dec!(0.5)), dec!(0.51));
    assert_eq!(PriceChange::Absolute(dec!(-1)).apply(dec!(0.5)), Decimal::ZERO);
}

#[test]
fn what_if_per_key_and_overall() {
    let priced = [
        PricedKwh { key: "A", unit_price: dec!(0.5), kwh: dec!(1000) },
        PricedKwh { key: "A", unit_price: dec!(0.3), kwh: dec!(333) },
        PricedKwh { key: "B", unit_price: dec!(1), kwh: dec!(10) },
    ];
    let billed = [
        Billed { key: "A", kwh: dec!(1333), billed: dec!(600) },
        Billed { key: "B", kwh: dec!(10), billed: dec!(10) },
        Billed { key: "C", kwh: dec!(0), billed: dec!(0) },
    ];
    // +10 %: A 1,000 × 0.05 + 333 × 0.03 = 59.99; B 10 × 0.1 = 1.
    let (rows, all) = what_if(&priced, &billed, PriceChange::Percent(dec!(10)));
    assert_eq!(rows[0].effect, dec!(59.99));
    assert_eq!(rows[0].after, dec!(659.99));
    assert_eq!(rows[0].percent, Some(dec!(10.00)));
    assert_eq!(rows[1].effect, dec!(1));
    assert_eq!(rows[2].percent, None);
    assert_eq!((all.effect, all.billed, all.kwh), (dec!(60.99), dec!(610), dec!(1343)));
    // +0.01 yuan/kWh: 13.33 + 0.10.
    let (rows, all) = what_if(&priced, &billed, PriceChange::Absolute(dec!(0.01)));
    assert_eq!(rows[0].effect, dec!(13.33));
    assert_eq!(all.effect, dec!(13.43));
}

#[test]
fn only_tariffs_of_the_class_stay_candidates() {
    let mut map = tariffs(vec![
        flat("commercial_single", dec!(0.66)),
        flat("commercial_tou", dec!(0.66)),
        flat("agri", dec!(0.47)),
    ]);
    keep_class_tariffs(&mut map, "commercial_single", &["commercial_tou".to_owned()]);
    assert_eq!(map.keys().collect::<Vec<_>>(), ["commercial_single", "commercial_tou"]);
}
