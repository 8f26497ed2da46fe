//! The metrics on cases whose answers are known (scikit-learn's documented examples and hand
//! computations).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_learn::metrics::{
    Summary, average_precision, best_f1_cut, brier, calibration, lift, log_loss, precision_cut,
    recall_cut, roc_auc, share_cut,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn roc_auc_of_perfect_reversed_and_known_rankings() {
    let labels = [false, false, true, true];
    assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
    assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
    // scikit-learn's roc_auc_score example.
    assert!(close(
        roc_auc(&[0.1, 0.4, 0.35, 0.8], &labels).unwrap(),
        0.75
    ));
    assert_eq!(roc_auc(&[0.5, 0.5], &[true, true]), None);
}

#[test]
fn roc_auc_counts_ties_as_half() {
    // Every score equal: no ranking at all.
    assert_eq!(
        roc_auc(&[0.3; 6], &[true, false, true, false, false, true]),
        Some(0.5)
    );
    // Pairs (positive, negative): (0.5, 0.5) tie = 1/2, (0.5, 0.2) = 1, (0.9, 0.5) = 1,
    // (0.9, 0.2) = 1: 3.5 of 4.
    let auc = roc_auc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]).unwrap();
    assert!(close(auc, 3.5 / 4.0), "{auc}");
}

#[test]
fn roc_auc_of_a_random_ranking_is_a_half() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let labels: Vec<bool> = (0..20_000).map(|_| rng.random::<f64>() < 0.3).collect();
    let scores: Vec<f64> = (0..20_000).map(|_| rng.random::<f64>()).collect();
    let auc = roc_auc(&scores, &labels).unwrap();
    assert!((auc - 0.5).abs() < 0.015, "{auc}");
}

#[test]
fn average_precision_matches_scikit_learn() {
    // scikit-learn's average_precision_score example: 0.8333...
    let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
    assert!(close(ap, 5.0 / 6.0), "{ap}");
    // Tied scores are one threshold: precision 2/4 at recall 1.
    let tied = average_precision(&[0.5; 4], &[true, false, true, false]).unwrap();
    assert!(close(tied, 0.5), "{tied}");
    assert_eq!(average_precision(&[0.5], &[false]), None);
}

#[test]
fn brier_and_log_loss() {
    let labels = [true, false, true, false];
    assert!(close(brier(&[1.0, 0.0, 1.0, 0.0], &labels), 0.0));
    assert!(close(
        brier(&[0.9, 0.2, 0.6, 0.5], &labels),
        (0.01 + 0.04 + 0.16 + 0.25) / 4.0
    ));
    let expected = -(0.9f64.ln() + 0.8f64.ln() + 0.6f64.ln() + 0.5f64.ln()) / 4.0;
    assert!(close(log_loss(&[0.9, 0.2, 0.6, 0.5], &labels), expected));
    // Certain and wrong is clipped, not infinite.
    assert!(log_loss(&[0.0], &[true]).is_finite());
}

#[test]
fn calibration_bins_predictions_by_tenths() {
    let p = [0.05, 0.07, 0.55, 0.95, 1.0];
    let y = [false, true, true, true, false];
    let bins = calibration(&p, &y);
    assert_eq!(bins.len(), 10);
    assert_eq!(bins[0].count, 2);
    assert!(close(bins[0].predicted.unwrap(), 0.06));
    assert!(close(bins[0].observed.unwrap(), 0.5));
    assert_eq!(bins[1].count, 0);
    assert_eq!(bins[1].predicted, None);
    assert_eq!(bins[5].count, 1);
    // 1.0 falls in the last bin.
    assert_eq!(bins[9].count, 2);
    assert!(close(bins[9].observed.unwrap(), 0.5));
}

#[test]
fn lift_by_decile_puts_the_best_scores_first() {
    // 100 rows; the 10 highest scores are all the positives.
    let scores: Vec<f64> = (0..100).map(f64::from).collect();
    let labels: Vec<bool> = (0..100).map(|i| i >= 90).collect();
    let deciles = lift(&scores, &labels);
    assert_eq!(deciles.len(), 10);
    assert_eq!(deciles[0].count, 10);
    assert!(close(deciles[0].rate, 1.0));
    assert!(close(deciles[0].lift, 10.0));
    assert!(close(deciles[0].cumulative_capture, 1.0));
    assert!(close(deciles[0].min_score, 90.0));
    assert!(close(deciles[9].rate, 0.0));
    assert!(close(deciles[9].cumulative_capture, 1.0));
}

#[test]
fn the_best_f1_cut_and_summaries() {
    let scores = [0.9, 0.8, 0.7, 0.3, 0.2];
    let labels = [true, true, false, true, false];
    // Cut at 0.3: precision 3/4, recall 1, F1 6/7; at 0.8: precision 1, recall 2/3, F1 4/5.
    let (cut, precision, recall) = best_f1_cut(&scores, &labels).unwrap();
    assert_eq!(cut, 0.3);
    assert!(close(precision, 0.75) && close(recall, 1.0));
    let s = Summary::of(vec![0.8, 0.9, 1.0]);
    assert!(close(s.mean, 0.9));
    assert!(close(s.std, 0.1));
}

#[test]
fn the_share_cut_flags_that_share_of_rows() {
    let scores = [0.9, 0.8, 0.7, 0.7, 0.5, 0.3, 0.2, 0.1];
    let labels = [true, false, true, false, true, false, false, false];
    let (cut, precision, recall) = share_cut(&scores, &labels, 0.25).unwrap();
    assert_eq!(cut, 0.8);
    assert!(close(precision, 0.5) && close(recall, 1.0 / 3.0));
    // A tie at the cut flags every tied row.
    let (cut, precision, _) = share_cut(&scores, &labels, 0.375).unwrap();
    assert_eq!(cut, 0.7);
    assert!(close(precision, 0.5));
    assert_eq!(share_cut(&scores, &[false; 8], 0.5), None);
}

#[test]
fn cuts_for_a_precision_or_a_recall() {
    // Scores high to low: y y n y n n.
    let scores = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
    let labels = [true, true, false, true, false, false];
    // Precision at least 0.75: down to 3 (3 of 4).
    assert_eq!(
        precision_cut(&scores, &labels, 0.75),
        Some((3.0, 0.75, 1.0))
    );
    assert_eq!(
        precision_cut(&scores, &labels, 1.0),
        Some((5.0, 1.0, 2.0 / 3.0))
    );
    // Recall at least 0.5: 5 (2 of 3).
    assert_eq!(
        recall_cut(&scores, &labels, 0.5),
        Some((5.0, 1.0, 2.0 / 3.0))
    );
    assert_eq!(recall_cut(&scores, &labels, 1.0), Some((3.0, 0.75, 1.0)));
    assert_eq!(precision_cut(&scores, &[false; 6], 0.5), None);
}
