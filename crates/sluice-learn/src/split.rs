//! Which rows train and which test: stratified folds, stratified hold-outs, the time split.
//! Deterministic for a seed.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A training set and the rows it is judged on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows to learn from (ascending).
    pub train: Vec<usize>,
    /// Rows to predict (ascending).
    pub test: Vec<usize>,
}

/// A random generator for a seed and a purpose, so each use draws its own stream.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// `k` folds in which each outcome is spread evenly: each row is tested once.
pub fn stratified_folds(labels: &[bool], k: usize, seed: u64) -> Vec<Split> {
    let mut fold_of = vec![0usize; labels.len()];
    let mut rng = rng(seed, 0);
    for outcome in [true, false] {
        let mut rows: Vec<usize> = (0..labels.len())
            .filter(|&r| labels[r] == outcome)
            .collect();
        rows.shuffle(&mut rng);
        for (i, r) in rows.into_iter().enumerate() {
            fold_of[r] = i % k;
        }
    }
    (0..k)
        .map(|fold| {
            let (test, train) = (0..labels.len()).partition(|&r| fold_of[r] == fold);
            Split { train, test }
        })
        .collect()
}

/// Positions in `rows` split into about `1 - fraction` to learn from and `fraction` to hold
/// out, each outcome spread evenly. Both parts are non-empty when `rows` has two rows.
pub fn holdout(
    rows: &[usize],
    labels: &[bool],
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<usize>) {
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    for outcome in [true, false] {
        let mut positions: Vec<usize> = (0..rows.len())
            .filter(|&i| labels[rows[i]] == outcome)
            .collect();
        positions.shuffle(rng);
        let n_held = ((positions.len() as f64 * fraction).round() as usize)
            .min(positions.len().saturating_sub(1));
        held.extend_from_slice(&positions[..n_held]);
        fit.extend_from_slice(&positions[n_held..]);
    }
    if held.is_empty() && fit.len() > 1 {
        held.push(fit.pop().expect("two rows"));
    }
    fit.sort_unstable();
    held.sort_unstable();
    (fit, held)
}

/// Train on the earliest `train_share` of rows by time, test on the rest (ties in row order).
pub fn time_split(times: &[i64], train_share: f64) -> Split {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&r| (times[r], r));
    let cut = ((times.len() as f64 * train_share).round() as usize).min(times.len());
    let mut train = order[..cut].to_vec();
    let mut test = order[cut..].to_vec();
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_disjoint_and_deterministic() {
        let labels: Vec<bool> = (0..103).map(|i| i % 4 == 0).collect();
        let folds = stratified_folds(&labels, 5, 7);
        assert_eq!(folds, stratified_folds(&labels, 5, 7));
        assert_ne!(folds, stratified_folds(&labels, 5, 8));
        let mut tested = vec![0; labels.len()];
        for split in &folds {
            assert_eq!(split.train.len() + split.test.len(), labels.len());
            for &r in &split.test {
                tested[r] += 1;
            }
            let positives = split.test.iter().filter(|&&r| labels[r]).count();
            assert!((5..=6).contains(&positives), "{positives}");
        }
        assert!(tested.iter().all(|&t| t == 1));
    }

    #[test]
    fn the_time_split_tests_on_the_latest_rows() {
        let times = [50, 10, 40, 20, 30, 60, 70, 80, 90, 100];
        let split = time_split(&times, 0.8);
        assert_eq!(split.test, vec![8, 9]);
        assert_eq!(split.train.len(), 8);
    }
}
