//! How well scores rank bad outcomes above good ones: AUC, Gini and KS.

use serde::{Deserialize, Serialize};

use super::{CalibrateError, check_labels};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// The chance that a random bad row outscores a random good one (ties half).
    pub auc: f64,
    /// 2·AUC − 1.
    pub gini: f64,
    /// The largest gap between the bads' and the goods' score distributions.
    pub ks: f64,
}

/// Measures `bad_scores` (higher = more likely bad: a probability of bad, or
/// minus a card score) against `labels` (1 = bad). Needs both outcomes, so
/// neither measure is a division by zero.
pub fn measure(bad_scores: &[f64], labels: &[u8]) -> Result<Measures, CalibrateError> {
    if bad_scores.len() != labels.len() {
        return Err(CalibrateError::LengthMismatch { scores: bad_scores.len(), labels: labels.len() });
    }
    if let Some(position) = bad_scores.iter().position(|s| s.is_nan()) {
        return Err(CalibrateError::NotAScore { position });
    }
    check_labels(labels, "AUC, Gini and KS need")?;
    let bads = labels.iter().filter(|&&l| l == 1).count();
    let goods = labels.len() - bads;

    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_unstable_by(|&a, &b| bad_scores[a].total_cmp(&bad_scores[b]));
    // Walk tied groups upwards: each group's rows share the average of the
    // ranks they span (Mann–Whitney), and after each group the cumulative
    // shares of bads and goods at or below it give one KS gap.
    let (mut bad_rank_sum, mut bads_below, mut goods_below, mut ks) = (0.0, 0usize, 0usize, 0.0_f64);
    let mut start = 0;
    while start < order.len() {
        let score = bad_scores[order[start]];
        let end = start + order[start..].iter().take_while(|&&i| bad_scores[i] == score).count();
        let group_bads = order[start..end].iter().filter(|&&i| labels[i] == 1).count();
        let average_rank = (start + 1 + end) as f64 / 2.0;
        bad_rank_sum += group_bads as f64 * average_rank;
        bads_below += group_bads;
        goods_below += end - start - group_bads;
        ks = ks.max((bads_below as f64 / bads as f64 - goods_below as f64 / goods as f64).abs());
        start = end;
    }
    let (bads, goods) = (bads as f64, goods as f64);
    let auc = (bad_rank_sum - bads * (bads + 1.0) / 2.0) / (bads * goods);
    Ok(Measures { auc, gini: 2.0 * auc - 1.0, ks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(measures: Measures, auc: f64, ks: f64) {
        let expected = Measures { auc, gini: 2.0 * auc - 1.0, ks };
        let off = [measures.auc - auc, measures.gini - expected.gini, measures.ks - ks];
        assert!(off.iter().all(|d| d.abs() < 1e-12), "{measures:?} != {expected:?}");
    }

    #[test]
    fn distinct_scores() {
        // Sorted: 0.1 good (rank 1), 0.35 bad (2), 0.4 good (3), 0.8 bad (4).
        // AUC = (2 + 4 − 2·3/2) / (2·2) = 3/4; Gini = 1/2.
        // Shares at or below each score, bad − good: 0.1: 0 − 1/2;
        // 0.35: 1/2 − 1/2; 0.4: 1/2 − 1; 0.8: 1 − 1. KS = 1/2.
        close(measure(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]).unwrap(), 0.75, 0.5);
    }

    #[test]
    fn ties_count_half() {
        // Sorted: 1 good (rank 1), 2 good and 2 bad (ranks 2 and 3, 2.5 each),
        // 3 bad (rank 4). AUC = (2.5 + 4 − 3) / 4 = 7/8 (the tied pair counts
        // half). Gaps: after 1: |0 − 1/2|; after 2: |1/2 − 1|; after 3: 0.
        close(measure(&[1.0, 2.0, 2.0, 3.0], &[0, 0, 1, 1]).unwrap(), 0.875, 0.5);
        // All tied: no ranking at all.
        close(measure(&[5.0; 4], &[0, 1, 0, 1]).unwrap(), 0.5, 0.0);
    }

    #[test]
    fn a_perfect_and_a_perfectly_wrong_ranking() {
        close(measure(&[0.9, 0.8, 0.2, 0.1], &[1, 1, 0, 0]).unwrap(), 1.0, 1.0);
        close(measure(&[0.1, 0.2, 0.8, 0.9], &[1, 1, 0, 0]).unwrap(), 0.0, 1.0);
    }

    #[test]
    fn three_to_one() {
        // Bads at 0.3 and 0.9; goods at 0.1, 0.5, 0.7. Pairs bad > good:
        // 0.3 beats 0.1 (1), 0.9 beats all 3: 4 of 6, AUC = 2/3.
        // Gaps: 0.1: 0 − 1/3; 0.3: 1/2 − 1/3; 0.5: 1/2 − 2/3; 0.7: 1/2 − 1;
        // 0.9: 0. KS = 1/2.
        close(measure(&[0.1, 0.3, 0.5, 0.7, 0.9], &[0, 1, 0, 0, 1]).unwrap(), 2.0 / 3.0, 0.5);
    }

    #[test]
    fn one_class_mismatched_lengths_and_nan_are_refused() {
        assert_eq!(
            measure(&[0.1, 0.2], &[0, 0]).unwrap_err().to_string(),
            "all 2 rows have label 0: AUC, Gini and KS need both good (0) and bad (1) rows"
        );
        assert_eq!(
            measure(&[], &[]).unwrap_err().to_string(),
            "no rows: AUC, Gini and KS need both good (0) and bad (1) rows"
        );
        assert_eq!(measure(&[0.1], &[0, 1]).unwrap_err().to_string(), "1 scores but 2 labels");
        assert_eq!(measure(&[0.1, f64::NAN], &[0, 1]).unwrap_err().to_string(), "score 2 is not a number");
        assert_eq!(measure(&[0.1, 0.2], &[0, 2]).unwrap_err().to_string(), "label 2 is 2, not 0 or 1");
    }
}
