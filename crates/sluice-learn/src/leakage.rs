//! The leakage guard: how well each column alone predicts the label, out of fold. A column
//! that alone ranks leads almost perfectly was most likely filled in after the outcome was
//! known (a sales status, a "lead quality" set by the rep), and a model that uses it is
//! useless before contact.
//!
//! Such columns are often empty for the leads sales never reached, which blurs their ranking
//! over all rows; so each column is also judged on the rows where it has a value, when those
//! are at least [`MIN_COVERAGE`] of the rows.

use serde::Serialize;

use crate::encode::{Binned, MISSING_BIN};
use crate::metrics::roc_auc;

/// A column is judged on the rows where it has a value only when they are at least this
/// share of all rows.
pub const MIN_COVERAGE: f64 = 0.2;

/// A column that alone predicts the label with at least this ROC AUC (but below the guard's
/// threshold) is suspected of a partial leak: a field sales fills in for some leads after
/// contact.
pub const SUSPECT_AUC: f64 = 0.7;

/// A strong column is suspected only when at most this share of rows has a value.
pub const SUSPECT_COVERAGE: f64 = 0.7;

/// A column filled for one outcome's rows this much more often than for the other's is
/// suspected too: fields sales fills in after contact are empty for the leads never reached.
pub const ONE_SIDED_FILL: f64 = 0.4;

/// One column's predictive power on its own.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnAuc {
    /// The column.
    pub column: String,
    /// Out-of-fold ROC AUC of its per-value conversion rate over all rows (mean over folds).
    pub roc_auc: f64,
    /// The same on the rows where it has a value, when some rows have none.
    pub roc_auc_where_present: Option<f64>,
    /// The share of rows with a value.
    pub coverage: f64,
    /// The share of positive rows with a value.
    pub coverage_positive: f64,
    /// The share of negative rows with a value.
    pub coverage_negative: f64,
}

/// A column suspected of leaking the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct LeakageWarning {
    /// The column.
    pub column: String,
    /// Its ROC AUC alone: over all rows, or where it has a value if that is what crossed the
    /// threshold.
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
    /// Columns suspected of a partial leak, not flagged: strong alone (ROC AUC
    /// [`SUSPECT_AUC`] or more) while often empty, or filled mostly for one outcome.
    pub suspects: Vec<LeakageWarning>,
}

/// One column's ROC AUC on one fold's test rows: over all of them, and over those where it has
/// a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldAuc {
    /// Over all test rows.
    pub all: Option<f64>,
    /// Over the test rows with a value.
    pub present: Option<f64>,
}

/// Each feature's ROC AUC on `test` when rows are scored by the conversion rate of their bin
/// in `train` (smoothed towards the overall rate, so rare bins do not score 0 or 1).
pub fn fold_aucs(
    train: &Binned,
    train_labels: &[bool],
    test: &Binned,
    test_labels: &[bool],
) -> Vec<FoldAuc> {
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
            let bins: Vec<u8> = (0..test.n_rows).map(|r| test.row(r)[f]).collect();
            let scores: Vec<f64> = bins.iter().map(|&b| rate[b as usize]).collect();
            let (present_scores, present_labels): (Vec<f64>, Vec<bool>) = bins
                .iter()
                .zip(scores.iter().zip(test_labels))
                .filter(|(b, _)| **b != MISSING_BIN)
                .map(|(_, (s, y))| (*s, *y))
                .unzip();
            FoldAuc {
                all: roc_auc(&scores, test_labels),
                present: if present_scores.len() < bins.len() {
                    roc_auc(&present_scores, &present_labels)
                } else {
                    None
                },
            }
        })
        .collect()
}

/// Averages per-fold AUCs per column and flags those at or above `threshold`; `coverage` is
/// each column's share of rows with a value: over all rows, the positive ones and the negative
/// ones.
pub fn assess(
    columns: &[&str],
    coverage: &[(f64, f64, f64)],
    folds: &[Vec<FoldAuc>],
    threshold: f64,
    label: &str,
) -> Leakage {
    let mean = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let mut aucs: Vec<ColumnAuc> = columns
        .iter()
        .enumerate()
        .map(|(f, column)| ColumnAuc {
            column: column.to_string(),
            roc_auc: mean(folds.iter().filter_map(|fold| fold[f].all).collect()).unwrap_or(0.5),
            roc_auc_where_present: mean(folds.iter().filter_map(|fold| fold[f].present).collect()),
            coverage: coverage[f].0,
            coverage_positive: coverage[f].1,
            coverage_negative: coverage[f].2,
        })
        .collect();
    aucs.sort_by(|a, b| {
        b.roc_auc
            .total_cmp(&a.roc_auc)
            .then_with(|| a.column.cmp(&b.column))
    });
    let warnings = aucs
        .iter()
        .filter_map(|c| {
            let advice = format!(
                "it is probably filled in after the outcome is known; if so, leave it out with --exclude \"{}\"",
                c.column
            );
            if c.roc_auc >= threshold {
                return Some(LeakageWarning {
                    column: c.column.clone(),
                    roc_auc: c.roc_auc,
                    message: format!(
                        "column `{}` alone predicts `{label}` with ROC AUC {:.3} (out of fold): {advice}",
                        c.column, c.roc_auc
                    ),
                });
            }
            let present = c
                .roc_auc_where_present
                .filter(|auc| *auc >= threshold && c.coverage >= MIN_COVERAGE)?;
            Some(LeakageWarning {
                column: c.column.clone(),
                roc_auc: present,
                message: format!(
                    "column `{}` alone predicts `{label}` with ROC AUC {present:.3} where it has a value ({:.0} % of rows; {:.3} over all rows, out of fold): {advice}",
                    c.column,
                    100.0 * c.coverage,
                    c.roc_auc
                ),
            })
        })
        .collect::<Vec<LeakageWarning>>();
    let suspects = aucs
        .iter()
        .filter(|c| !warnings.iter().any(|w| w.column == c.column))
        .filter_map(|c| {
            let advice = format!(
                "if sales fills it in after contact, leave it out with --exclude \"{}\"",
                c.column
            );
            let strongest = c
                .roc_auc
                .max(c.roc_auc_where_present.filter(|_| c.coverage >= MIN_COVERAGE).unwrap_or(0.0));
            let one_sided = (c.coverage_positive - c.coverage_negative).abs() >= ONE_SIDED_FILL;
            // A strong column that is always filled is most likely a real signal; a field
            // sales fills in after contact is empty for the leads it never reached.
            let message = if strongest >= SUSPECT_AUC && c.coverage < SUSPECT_COVERAGE {
                format!(
                    "column `{}` alone predicts `{label}` with ROC AUC {strongest:.3} (out of fold), strong for one column, and it is empty for {:.0} % of rows{}: {advice}",
                    c.column,
                    100.0 * (1.0 - c.coverage),
                    if one_sided {
                        format!(
                            ": filled for {:.0} % of the converted rows but {:.0} % of the others",
                            100.0 * c.coverage_positive,
                            100.0 * c.coverage_negative
                        )
                    } else {
                        String::new()
                    }
                )
            } else if one_sided {
                format!(
                    "column `{}` is filled for {:.0} % of the rows with `{label}` but {:.0} % of the others: {advice}",
                    c.column,
                    100.0 * c.coverage_positive,
                    100.0 * c.coverage_negative
                )
            } else {
                return None;
            };
            Some(LeakageWarning {
                column: c.column.clone(),
                roc_auc: strongest,
                message,
            })
        })
        .collect();
    Leakage {
        threshold,
        columns: aucs,
        warnings,
        suspects,
    }
}
