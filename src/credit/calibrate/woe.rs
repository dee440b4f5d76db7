//! Weight-of-evidence binning of one factor on the training rows.
//!
//! WoE here is ln(share of all goods in the bin / share of all bads in the
//! bin): positive where the bin holds relatively more goods. Numeric bins
//! are merged until the bad rate runs one way with the value and each bin is
//! big enough to be trusted; text categories too rare to trust are pooled.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::Options;
use crate::credit::card::{Bin, Input};

/// One bin with what training put in it. Its `bin` carries 0 points: points
/// come from the fitted coefficient when the card is scaled.
#[derive(Clone, Debug, PartialEq)]
pub struct WoeBin {
    pub bin: Bin,
    pub goods: u64,
    pub bads: u64,
    pub woe: f64,
}

/// A factor's bins, in the order a card must list them (catch-alls last).
#[derive(Clone, Debug, PartialEq)]
pub struct Binning {
    pub factor: String,
    pub bins: Vec<WoeBin>,
    pub information_value: f64,
}

impl Binning {
    /// The WoE of the first bin that matches, as the card awards; an input
    /// no bin matches is neutral (the card gives it 0 points).
    pub fn woe_of(&self, input: &Input) -> f64 {
        self.bins.iter().find(|b| b.bin.matches(input)).map_or(0.0, |b| b.woe)
    }
}

/// Bins one column. A column holding any text is binned by category (a
/// number in it would fall to `Other`: a `Table` read from CSV never mixes
/// them), one of numbers and gaps by value. `labels` are 1 for bad, 0 for good.
pub fn bin_column<'a>(
    factor: &str,
    cells: impl IntoIterator<Item = &'a Input>,
    labels: &[u8],
    options: &Options,
) -> Binning {
    let mut numbers = Vec::new();
    let mut categories: HashMap<&str, Counts> = HashMap::new();
    let mut missing = Counts::default();
    for (cell, &label) in cells.into_iter().zip(labels) {
        match cell {
            Input::Number(x) => numbers.push((*x, label)),
            Input::Text(t) => categories.entry(t.as_str()).or_default().add(label),
            Input::Missing => missing.add(label),
        }
    }
    let min_rows = ((options.min_bin_share * labels.len() as f64).ceil() as u64).max(1);
    let is_text = !categories.is_empty();
    let mut groups =
        if is_text { category_groups(categories, min_rows) } else { numeric_groups(numbers, min_rows, options) };
    if missing.rows() > 0 {
        groups.push((Bin::Missing { points: 0.0 }, missing));
    }
    // Catch-alls for inputs training never saw: neutral, so they move no score.
    let neutral = if is_text {
        Some(Bin::Other { points: 0.0 })
    } else if missing.rows() == 0 {
        Some(Bin::Missing { points: 0.0 })
    } else {
        None
    };

    let counts: Vec<Counts> = groups.iter().map(|(_, c)| *c).collect();
    let (woes, information_value) = woe_and_information_value(&counts, options.smoothing);
    let mut bins: Vec<WoeBin> =
        groups.into_iter().zip(woes).map(|((bin, c), woe)| WoeBin { bin, goods: c.goods, bads: c.bads, woe }).collect();
    bins.extend(neutral.map(|bin| WoeBin { bin, goods: 0, bads: 0, woe: 0.0 }));
    Binning { factor: factor.to_owned(), bins, information_value }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    goods: u64,
    bads: u64,
}

impl Counts {
    fn add(&mut self, label: u8) {
        if label == 1 {
            self.bads += 1;
        } else {
            self.goods += 1;
        }
    }

    fn absorb(&mut self, other: Counts) {
        self.goods += other.goods;
        self.bads += other.bads;
    }

    fn rows(&self) -> u64 {
        self.goods + self.bads
    }

    fn bad_rate(&self) -> f64 {
        self.bads as f64 / self.rows() as f64
    }

    /// Compares bad rates exactly (cross-multiplied), so equal rates are equal.
    fn cmp_bad_rate(&self, other: &Counts) -> Ordering {
        (u128::from(self.bads) * u128::from(other.rows())).cmp(&(u128::from(other.bads) * u128::from(self.rows())))
    }

    /// Too small to trust, or one-sided: its WoE would rest on smoothing alone.
    fn falls_short(&self, min_rows: u64) -> bool {
        self.rows() < min_rows || self.goods == 0 || self.bads == 0
    }
}

/// Smoothed WoE per bin (`smoothing` added to each bin's goods and bads) and
/// the information value, sum of (good share − bad share) · WoE.
fn woe_and_information_value(counts: &[Counts], smoothing: f64) -> (Vec<f64>, f64) {
    let bins = counts.len() as f64;
    let goods = counts.iter().map(|c| c.goods).sum::<u64>() as f64 + smoothing * bins;
    let bads = counts.iter().map(|c| c.bads).sum::<u64>() as f64 + smoothing * bins;
    let mut information_value = 0.0;
    let woes = counts
        .iter()
        .map(|c| {
            let good_share = (c.goods as f64 + smoothing) / goods;
            let bad_share = (c.bads as f64 + smoothing) / bads;
            let woe = (good_share / bad_share).ln();
            information_value += (good_share - bad_share) * woe;
            woe
        })
        .collect();
    (woes, information_value)
}

/// Value ranges whose bad rate is monotonic in the value, in whichever
/// direction keeps more information.
fn numeric_groups(mut numbers: Vec<(f64, u8)>, min_rows: u64, options: &Options) -> Vec<(Bin, Counts)> {
    if numbers.is_empty() {
        return Vec::new();
    }
    numbers.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let fine = quantile_groups(&numbers, options.fine_bins);
    let information_value = |groups: &[(Option<f64>, Counts)]| {
        let counts: Vec<Counts> = groups.iter().map(|(_, c)| *c).collect();
        woe_and_information_value(&counts, options.smoothing).1
    };
    let [rising, falling] = [true, false].map(|bad_rate_rises| {
        let mut groups = pool_monotone(&fine, bad_rate_rises);
        merge_short(&mut groups, min_rows, |_, _| {});
        groups
    });
    let groups = if information_value(&falling) > information_value(&rising) { falling } else { rising };
    let uppers: Vec<Option<f64>> = groups.iter().skip(1).map(|(lower, _)| *lower).chain([None]).collect();
    groups.into_iter().zip(uppers).map(|((lower, c), upper)| (Bin::Range { lower, upper, points: 0.0 }, c)).collect()
}

/// About `fine_bins` groups of equal size, keyed by their lower edge (`None`
/// for the first); ties never straddle a cut, so every group is non-empty.
fn quantile_groups(sorted: &[(f64, u8)], fine_bins: usize) -> Vec<(Option<f64>, Counts)> {
    let n = sorted.len();
    let mut cuts: Vec<f64> = Vec::new();
    for k in 1..fine_bins {
        let value = sorted[k * n / fine_bins].0;
        if value > sorted[0].0 && cuts.last().is_none_or(|&c| value > c) {
            cuts.push(value);
        }
    }
    let mut groups: Vec<(Option<f64>, Counts)> = vec![(None, Counts::default())];
    let mut next_cut = cuts.iter().peekable();
    for &(value, label) in sorted {
        while let Some(&&cut) = next_cut.peek().filter(|&&&cut| value >= cut) {
            groups.push((Some(cut), Counts::default()));
            next_cut.next();
        }
        groups.last_mut().expect("a first group").1.add(label);
    }
    groups
}

/// Pool adjacent violators: merges neighbours until the bad rate strictly
/// rises (or falls) from each group to the next.
fn pool_monotone(fine: &[(Option<f64>, Counts)], bad_rate_rises: bool) -> Vec<(Option<f64>, Counts)> {
    let wanted = if bad_rate_rises { Ordering::Less } else { Ordering::Greater };
    let mut pooled: Vec<(Option<f64>, Counts)> = Vec::with_capacity(fine.len());
    for &group in fine {
        pooled.push(group);
        while let [.., before, last] = pooled.as_slice()
            && before.1.cmp_bad_rate(&last.1) != wanted
        {
            let (_, last) = pooled.pop().expect("two groups");
            pooled.last_mut().expect("one group").1.absorb(last);
        }
    }
    pooled
}

/// Merges each group that falls short (smallest first) into the neighbour
/// whose bad rate is closer. Groups are ordered by value or by bad rate, so a
/// merge keeps that order monotonic.
fn merge_short<K>(groups: &mut Vec<(K, Counts)>, min_rows: u64, join: impl Fn(&mut K, K)) {
    while groups.len() > 1 {
        let Some(short) =
            (0..groups.len()).filter(|&i| groups[i].1.falls_short(min_rows)).min_by_key(|&i| groups[i].1.rows())
        else {
            return;
        };
        let neighbour = if short == 0 {
            1
        } else if short + 1 == groups.len() {
            short - 1
        } else {
            let rate = groups[short].1.bad_rate();
            let distance = |i: usize| (groups[i].1.bad_rate() - rate).abs();
            if distance(short + 1) < distance(short - 1) { short + 1 } else { short - 1 }
        };
        let (keep, gone) = (short.min(neighbour), short.max(neighbour));
        let (key, counts) = groups.remove(gone);
        join(&mut groups[keep].0, key);
        groups[keep].1.absorb(counts);
    }
}

/// One bin per common category; rare ones pooled into one bin; then ordered
/// by bad rate and merged until every bin is big enough and two-sided.
fn category_groups(categories: HashMap<&str, Counts>, min_rows: u64) -> Vec<(Bin, Counts)> {
    let mut groups: Vec<(Vec<String>, Counts)> = Vec::new();
    let mut rare = (Vec::new(), Counts::default());
    for (name, counts) in categories {
        if counts.rows() >= min_rows {
            groups.push((vec![name.to_owned()], counts));
        } else {
            rare.0.push(name.to_owned());
            rare.1.absorb(counts);
        }
    }
    if !rare.0.is_empty() {
        rare.0.sort();
        groups.push(rare);
    }
    groups.sort_by(|a, b| a.1.cmp_bad_rate(&b.1).then_with(|| a.0.cmp(&b.0)));
    merge_short(&mut groups, min_rows, |values, more| {
        values.extend(more);
        values.sort();
    });
    groups.into_iter().map(|(values, counts)| (Bin::Categories { values, points: 0.0 }, counts)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` rows of `input`, `bads` of them bad.
    fn rows(input: Input, count: usize, bads: usize) -> Vec<(Input, u8)> {
        (0..count).map(|i| (input.clone(), u8::from(i < bads))).collect()
    }

    fn binned(rows: &[(Input, u8)], options: &Options) -> Binning {
        let labels: Vec<u8> = rows.iter().map(|r| r.1).collect();
        bin_column("f", rows.iter().map(|r| &r.0), &labels, options)
    }

    fn ranges(binning: &Binning) -> Vec<(Option<f64>, Option<f64>, u64, u64)> {
        binning
            .bins
            .iter()
            .filter_map(|b| match b.bin {
                Bin::Range { lower, upper, .. } => Some((lower, upper, b.goods, b.bads)),
                _ => None,
            })
            .collect()
    }

    fn number_rows(groups: &[(f64, usize, usize)]) -> Vec<(Input, u8)> {
        groups.iter().flat_map(|&(x, count, bads)| rows(Input::Number(x), count, bads)).collect()
    }

    #[test]
    fn two_bins_by_hand() {
        // x = 1: 30 goods, 10 bads; x = 2: 20 goods, 40 bads. Smoothing 0.5 on
        // 2 bins: goods total 50 + 1 = 51, bads total 50 + 1 = 51.
        // WoE(1) = ln((30.5/51) / (10.5/51)) = ln(30.5/10.5) = 1.0663514264...
        // WoE(2) = ln(20.5/40.5) = -0.6808770879...
        // IV = (30.5-10.5)/51 · 1.06635 + (20.5-40.5)/51 · (-0.68088)
        //    = 20/51 · 1.7472285144 = 0.6851876527...
        let binning = binned(&number_rows(&[(1.0, 40, 10), (2.0, 60, 40)]), &Options::default());
        assert_eq!(ranges(&binning), [(None, Some(2.0), 30, 10), (Some(2.0), None, 20, 40)]);
        assert!((binning.bins[0].woe - 1.066_351_426_449_888).abs() < 1e-12);
        assert!((binning.bins[1].woe + 0.680_877_087_968_131).abs() < 1e-12);
        assert!((binning.information_value - 0.685_187_652_712_948_7).abs() < 1e-12);
        // No gaps in training: a neutral Missing bin closes the card.
        assert_eq!(binning.bins[2], WoeBin { bin: Bin::Missing { points: 0.0 }, goods: 0, bads: 0, woe: 0.0 });
        assert_eq!(binning.woe_of(&Input::Number(-5.0)), binning.bins[0].woe);
        assert_eq!(binning.woe_of(&Input::Missing), 0.0);
    }

    #[test]
    fn bins_that_break_the_trend_are_merged() {
        // Bad rates by value: 0.1, 0.4, 0.3, 0.7. The trend rises; 0.4 then
        // 0.3 breaks it, so 2 and 3 pool to 14/40 = 0.35.
        let binning =
            binned(&number_rows(&[(1.0, 20, 2), (2.0, 20, 8), (3.0, 20, 6), (4.0, 20, 14)]), &Options::default());
        assert_eq!(
            ranges(&binning),
            [(None, Some(2.0), 18, 2), (Some(2.0), Some(4.0), 26, 14), (Some(4.0), None, 6, 14)]
        );
    }

    #[test]
    fn a_falling_trend_is_kept_falling() {
        let binning =
            binned(&number_rows(&[(1.0, 20, 14), (2.0, 20, 6), (3.0, 20, 8), (4.0, 20, 2)]), &Options::default());
        assert_eq!(
            ranges(&binning),
            [(None, Some(2.0), 6, 14), (Some(2.0), Some(4.0), 26, 14), (Some(4.0), None, 18, 2)]
        );
        let woes: Vec<f64> = binning.bins[..3].iter().map(|b| b.woe).collect();
        assert!(woes[0] < woes[1] && woes[1] < woes[2], "{woes:?}");
    }

    #[test]
    fn a_bin_under_the_minimum_share_joins_the_neighbour_with_the_closer_bad_rate() {
        // 83 rows at 5% need 5 rows a bin. x = 2 has 3 rows (rate 1/3); its
        // neighbours have rates 0.1 (distance 0.233) and 0.5 (distance 0.167).
        let data = number_rows(&[(1.0, 40, 4), (2.0, 3, 1), (3.0, 40, 20)]);
        let binning = binned(&data, &Options::default());
        assert_eq!(ranges(&binning), [(None, Some(2.0), 36, 4), (Some(2.0), None, 22, 21)]);
        // At 1% it may stay on its own.
        let binning = binned(&data, &Options { min_bin_share: 0.01, ..Options::default() });
        assert_eq!(ranges(&binning).len(), 3);
    }

    #[test]
    fn every_bin_has_a_good_and_a_bad() {
        // x = 1 is all good: it cannot stand alone, however large.
        let binning = binned(&number_rows(&[(1.0, 30, 0), (2.0, 30, 5), (3.0, 30, 15)]), &Options::default());
        assert_eq!(ranges(&binning), [(None, Some(3.0), 55, 5), (Some(3.0), None, 15, 15)]);
    }

    #[test]
    fn ranges_tile_the_line() {
        let data: Vec<(Input, u8)> =
            (0..1000).map(|i| (Input::Number(i as f64), u8::from(i % 7 == 0 || i > 800))).collect();
        let binning = binned(&data, &Options::default());
        let ranges = ranges(&binning);
        assert!(ranges.len() >= 2, "{ranges:?}");
        assert_eq!(ranges[0].0, None);
        assert_eq!(ranges.last().unwrap().1, None);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        assert!(ranges.iter().all(|r| r.2 + r.3 >= 50), "{ranges:?}");
    }

    #[test]
    fn gaps_get_their_own_bin() {
        let mut data = number_rows(&[(1.0, 50, 5), (2.0, 50, 25)]);
        data.extend(rows(Input::Missing, 20, 10));
        let binning = binned(&data, &Options::default());
        let last = binning.bins.last().unwrap();
        assert_eq!((&last.bin, last.goods, last.bads), (&Bin::Missing { points: 0.0 }, 10, 10));
        // Smoothed over 3 bins: goods 80 + 1.5, bads 40 + 1.5.
        let expected = ((10.5 / 81.5) / (10.5 / 41.5_f64)).ln();
        assert!((binning.woe_of(&Input::Missing) - expected).abs() < 1e-12);
        assert_eq!(binning.bins.len(), 3);
    }

    #[test]
    fn categories_rare_ones_pooled_gaps_and_an_unseen_one() {
        // 100 rows, 5 needed a bin. "c" (3 rows) and "d" (2 rows) are rare and
        // pool into one bin of 5 rows with 2 bads.
        let mut data = rows(Input::Text("a".into()), 50, 5);
        data.extend(rows(Input::Text("b".into()), 35, 20));
        data.extend(rows(Input::Text("c".into()), 3, 1));
        data.extend(rows(Input::Text("d".into()), 2, 1));
        data.extend(rows(Input::Missing, 10, 3));
        let binning = binned(&data, &Options::default());
        let bins: Vec<(&Bin, u64, u64)> = binning.bins.iter().map(|b| (&b.bin, b.goods, b.bads)).collect();
        let categories =
            |v: &[&str]| Bin::Categories { values: v.iter().map(|s| s.to_string()).collect(), points: 0.0 };
        assert_eq!(
            bins,
            [
                (&categories(&["a"]), 45, 5),
                (&categories(&["c", "d"]), 3, 2),
                (&categories(&["b"]), 15, 20),
                (&Bin::Missing { points: 0.0 }, 7, 3),
                (&Bin::Other { points: 0.0 }, 0, 0),
            ]
        );
        assert_eq!(binning.woe_of(&Input::Text("never seen".into())), 0.0);
        assert_eq!(binning.woe_of(&Input::Text("d".into())), binning.bins[1].woe);
    }

    #[test]
    fn a_rare_pool_still_too_small_joins_the_category_of_closest_bad_rate() {
        // 100 rows: "x" (2 rows, both bad) is rare and alone in its pool, so
        // it joins the category whose bad rate is nearest its own: "b".
        let mut data = rows(Input::Text("a".into()), 60, 6);
        data.extend(rows(Input::Text("b".into()), 38, 20));
        data.extend(rows(Input::Text("x".into()), 2, 2));
        let binning = binned(&data, &Options::default());
        let values: Vec<&Bin> = binning.bins.iter().map(|b| &b.bin).collect();
        assert_eq!(values[1], &Bin::Categories { values: vec!["b".into(), "x".into()], points: 0.0 });
        assert_eq!(binning.bins.len(), 3);
    }

    #[test]
    fn a_factor_that_tells_nothing_has_no_information() {
        let binning = binned(&number_rows(&[(1.0, 50, 10), (2.0, 50, 10)]), &Options::default());
        assert_eq!(ranges(&binning).len(), 1);
        assert!(binning.information_value.abs() < 1e-12);
    }
}
