//! The leakage guard: how well each column alone predicts the label, out of fold. A column
//! that alone ranks leads almost perfectly was most likely filled in after the outcome was
//! known (a sales status, a "lead quality" set by the rep), and a model that uses it is
//! useless before contact.

use serde::Serialize;

use crate::encode::Binned;
use crate::metrics::roc_auc;

/// One column's predictive power on its own.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnAuc {
    /// The column.
    pub column: String,
    /// Out-of-fold ROC AUC of its per-value conversion rate (mean over folds).
    pub roc_auc: f64,
}

/// A column suspected of leaking the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct LeakageWarning {
    /// The column.
    pub column: String,
    /// Its ROC AUC alone.
    pub roc_auc: f64,
    /// What to do, in words.
    pub message: String,
}

/// The guard's findings.
#[derive(Debug, Clone, Serialize)]
pub struct Leakage {
    /// The ROC AUC at and above which a column is flagged.
    pub threshold: f64,
    /// Every feature column, most predictive first.
    pub columns: Vec<ColumnAuc>,
    /// The flagged columns.
    pub warnings: Vec<LeakageWarning>,
}

/// Each feature's ROC AUC on `test` when rows are scored by the conversion rate of their bin
/// in `train` (smoothed towards the overall rate, so rare bins do not score 0 or 1).
pub fn fold_aucs(
    train: &Binned,
    train_labels: &[bool],
    test: &Binned,
    test_labels: &[bool],
) -> Vec<Option<f64>> {
    const PRIOR_ROWS: f64 = 5.0;
    let base = train_labels.iter().filter(|&&y| y).count() as f64 / train_labels.len() as f64;
    (0..train.n_features)
        .map(|f| {
            let mut counts = vec![(0.0, 0.0); train.n_bins[f]];
            for (r, &y) in train_labels.iter().enumerate() {
                let c = &mut counts[train.row(r)[f] as usize];
                c.0 += 1.0;
                c.1 += f64::from(u8::from(y));
            }
            let rate: Vec<f64> = counts
                .iter()
                .map(|&(n, p)| (p + PRIOR_ROWS * base) / (n + PRIOR_ROWS))
                .collect();
            let scores: Vec<f64> = (0..test.n_rows)
                .map(|r| rate[test.row(r)[f] as usize])
                .collect();
            roc_auc(&scores, test_labels)
        })
        .collect()
}

/// Averages per-fold AUCs per column and flags those at or above `threshold`.
pub fn assess(
    columns: &[&str],
    folds: &[Vec<Option<f64>>],
    threshold: f64,
    label: &str,
) -> Leakage {
    let mut aucs: Vec<ColumnAuc> = columns
        .iter()
        .enumerate()
        .map(|(f, column)| {
            let values: Vec<f64> = folds.iter().filter_map(|fold| fold[f]).collect();
            ColumnAuc {
                column: column.to_string(),
                roc_auc: values.iter().sum::<f64>() / values.len().max(1) as f64,
            }
        })
        .collect();
    aucs.sort_by(|a, b| {
        b.roc_auc
            .total_cmp(&a.roc_auc)
            .then_with(|| a.column.cmp(&b.column))
    });
    let warnings = aucs
        .iter()
        .filter(|c| c.roc_auc >= threshold)
        .map(|c| LeakageWarning {
            column: c.column.clone(),
            roc_auc: c.roc_auc,
            message: format!(
                "column `{}` alone predicts `{label}` with ROC AUC {:.3} (out of fold): it is probably filled in after the outcome is known; if so, leave it out with --exclude \"{}\"",
                c.column, c.roc_auc, c.column
            ),
        })
        .collect();
    Leakage {
        threshold,
        columns: aucs,
        warnings,
    }
}
