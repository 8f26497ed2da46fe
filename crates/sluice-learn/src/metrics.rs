//! How good predicted probabilities are: ranking (ROC AUC, PR AUC), accuracy of the
//! probabilities (Brier score, log loss), calibration and lift.

use serde::Serialize;

/// Row indices sorted by descending score (ties in row order).
fn by_score_desc(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// The area under the ROC curve: the probability that a random positive scores above a
/// random negative, ties counting half. `None` without both outcomes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann-Whitney U with mid-ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&r| labels[r]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Average precision (the area under the precision-recall curve as scikit-learn computes it):
/// the precision at each distinct score, weighted by the recall gained there. `None` without
/// positives.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 {
        return None;
    }
    let order = by_score_desc(scores);
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            tp += usize::from(labels[order[i]]);
            seen += 1;
            i += 1;
        }
        let recall = tp as f64 / positives as f64;
        ap += (recall - last_recall) * tp as f64 / seen as f64;
        last_recall = recall;
    }
    Some(ap)
}

/// The mean squared difference between probability and outcome (0 is perfect).
pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    let sum: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum();
    sum / probabilities.len().max(1) as f64
}

/// The mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15].
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let sum: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -(if y { p.ln() } else { (1.0 - p).ln() })
        })
        .sum();
    sum / probabilities.len().max(1) as f64
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Lower bound of the predicted probabilities in the bin.
    pub from: f64,
    /// Upper bound (exclusive, except for the last bin).
    pub to: f64,
    /// Rows in the bin.
    pub count: usize,
    /// Their mean predicted probability.
    pub predicted: Option<f64>,
    /// Their observed conversion rate.
    pub observed: Option<f64>,
}

/// Expected calibration error: the mean of |predicted - observed| over `bins`, weighted by
/// their rows.
pub fn calibration_error(bins: &[CalibrationBin]) -> f64 {
    let rows: usize = bins.iter().map(|b| b.count).sum();
    if rows == 0 {
        return 0.0;
    }
    bins.iter()
        .filter_map(|b| Some(b.count as f64 * (b.predicted? - b.observed?).abs()))
        .sum::<f64>()
        / rows as f64
}

/// Predicted against observed rates in ten equal-width probability bins.
pub fn calibration(probabilities: &[f64], labels: &[bool]) -> Vec<CalibrationBin> {
    const BINS: usize = 10;
    let mut sums = [(0usize, 0.0f64, 0usize); BINS];
    for (p, &y) in probabilities.iter().zip(labels) {
        let b = ((p * BINS as f64) as usize).min(BINS - 1);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += usize::from(y);
    }
    sums.iter()
        .enumerate()
        .map(|(b, &(count, p, y))| CalibrationBin {
            from: b as f64 / BINS as f64,
            to: (b + 1) as f64 / BINS as f64,
            count,
            predicted: (count > 0).then(|| p / count as f64),
            observed: (count > 0).then(|| y as f64 / count as f64),
        })
        .collect()
}

/// One decile of a lift table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decile {
    /// 1 for the tenth of rows with the highest scores.
    pub decile: usize,
    /// Rows in it.
    pub count: usize,
    /// The lowest score in it.
    pub min_score: f64,
    /// Its conversion rate.
    pub rate: f64,
    /// Its conversion rate over the overall rate.
    pub lift: f64,
    /// The share of all conversions in this and the higher deciles.
    pub cumulative_capture: f64,
}

/// Conversion per tenth of rows, highest scores first.
pub fn lift(scores: &[f64], labels: &[bool]) -> Vec<Decile> {
    let n = scores.len();
    let positives = labels.iter().filter(|&&y| y).count();
    if n == 0 || positives == 0 {
        return Vec::new();
    }
    let base = positives as f64 / n as f64;
    let order = by_score_desc(scores);
    let mut captured = 0;
    (0..10)
        .filter_map(|d| {
            let rows = &order[d * n / 10..(d + 1) * n / 10];
            let last = *rows.last()?;
            let converted = rows.iter().filter(|&&r| labels[r]).count();
            captured += converted;
            let rate = converted as f64 / rows.len() as f64;
            Some(Decile {
                decile: d + 1,
                count: rows.len(),
                min_score: scores[last],
                rate,
                lift: rate / base,
                cumulative_capture: captured as f64 / positives as f64,
            })
        })
        .collect()
}

/// The metrics of one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// ROC AUC.
    pub roc_auc: f64,
    /// PR AUC (average precision).
    pub pr_auc: f64,
    /// Brier score.
    pub brier: f64,
    /// Log loss.
    pub log_loss: f64,
}

impl Metrics {
    /// All four; `None` when the rows do not hold both outcomes.
    pub fn of(probabilities: &[f64], labels: &[bool]) -> Option<Metrics> {
        Some(Metrics {
            roc_auc: roc_auc(probabilities, labels)?,
            pr_auc: average_precision(probabilities, labels)?,
            brier: brier(probabilities, labels),
            log_loss: log_loss(probabilities, labels),
        })
    }
}

/// A metric's mean and (sample) standard deviation over folds, and its value per fold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
    /// Per fold.
    pub folds: Vec<f64>,
}

impl Summary {
    /// Of these values.
    pub fn of(values: Vec<f64>) -> Summary {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n.max(1.0);
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Summary {
            mean,
            std: var.sqrt(),
            folds: values,
        }
    }
}

/// The best F1 cut: flag rows whose score is at least the returned score. Returns the cut,
/// its precision and its recall.
pub fn best_f1_cut(scores: &[f64], labels: &[bool]) -> Option<(f64, f64, f64)> {
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 {
        return None;
    }
    let order = by_score_desc(scores);
    let (mut tp, mut seen) = (0usize, 0usize);
    let mut best: Option<(f64, f64, f64, f64)> = None;
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            tp += usize::from(labels[order[i]]);
            seen += 1;
            i += 1;
        }
        let precision = tp as f64 / seen as f64;
        let recall = tp as f64 / positives as f64;
        let f1 = if tp == 0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        if best.is_none_or(|b| f1 > b.0) {
            best = Some((f1, score, precision, recall));
        }
    }
    best.map(|(_, cut, precision, recall)| (cut, precision, recall))
}

/// The lowest score whose leads at or above it convert at least `precision` of the time, with
/// (precision, recall) there; `None` when no score reaches it.
pub fn precision_cut(scores: &[f64], labels: &[bool], precision: f64) -> Option<(f64, f64, f64)> {
    walk_cuts(scores, labels)
        .filter(|&(_, p, _)| p >= precision)
        .last()
}

/// The highest score whose leads at or above it hold at least `recall` of the conversions, with
/// (precision, recall) there.
pub fn recall_cut(scores: &[f64], labels: &[bool], recall: f64) -> Option<(f64, f64, f64)> {
    walk_cuts(scores, labels).find(|&(_, _, r)| r >= recall)
}

/// Every distinct score from the highest down, with the precision and recall of the leads at
/// or above it.
fn walk_cuts<'a>(
    scores: &'a [f64],
    labels: &'a [bool],
) -> impl Iterator<Item = (f64, f64, f64)> + 'a {
    let positives = labels.iter().filter(|&&y| y).count();
    let order = by_score_desc(scores);
    let (mut tp, mut seen, mut i) = (0usize, 0usize, 0usize);
    std::iter::from_fn(move || {
        if positives == 0 || i >= order.len() {
            return None;
        }
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            tp += usize::from(labels[order[i]]);
            seen += 1;
            i += 1;
        }
        Some((score, tp as f64 / seen as f64, tp as f64 / positives as f64))
    })
}

/// The cut that about `share` of the rows reach: flag rows whose score is at least the
/// returned score (ties all flagged). Returns the cut, its precision and its recall.
pub fn share_cut(scores: &[f64], labels: &[bool], share: f64) -> Option<(f64, f64, f64)> {
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 || scores.is_empty() {
        return None;
    }
    let order = by_score_desc(scores);
    let k = ((share * scores.len() as f64).round() as usize).clamp(1, scores.len());
    let cut = scores[order[k - 1]];
    let (flagged, tp) = scores
        .iter()
        .zip(labels)
        .filter(|(s, _)| **s >= cut)
        .fold((0usize, 0usize), |(n, tp), (_, &y)| {
            (n + 1, tp + usize::from(y))
        });
    Some((
        cut,
        tp as f64 / flagged as f64,
        tp as f64 / positives as f64,
    ))
}
