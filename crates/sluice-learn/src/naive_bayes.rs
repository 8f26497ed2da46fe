//! Naive Bayes over binned attributes with Laplace smoothing, as in Odoo's predictive lead
//! scoring: each attribute value adds its log-likelihood ratio to the prior log-odds, which is
//! also the explanation.

use crate::encode::Binned;
use crate::logistic::sigmoid;

/// A fitted naive Bayes model.
#[derive(Debug, Clone)]
pub struct NaiveBayes {
    /// Log-odds of a positive before looking at any attribute.
    pub prior: f64,
    /// Per feature and bin: ln P(bin | positive) - ln P(bin | negative).
    llr: Vec<Vec<f64>>,
    /// Per feature and bin: training rows, and how many of them were positive.
    counts: Vec<Vec<(usize, usize)>>,
}

impl NaiveBayes {
    /// Counts bins per outcome; every bin gets one extra row of each outcome.
    pub fn fit(x: &Binned, labels: &[bool]) -> NaiveBayes {
        let mut counts: Vec<Vec<(usize, usize)>> =
            x.n_bins.iter().map(|&n| vec![(0, 0); n]).collect();
        for (r, &y) in labels.iter().enumerate() {
            for (f, &bin) in x.row(r).iter().enumerate() {
                let c = &mut counts[f][bin as usize];
                c.0 += 1;
                c.1 += usize::from(y);
            }
        }
        let positives = labels.iter().filter(|&&y| y).count() as f64;
        let negatives = labels.len() as f64 - positives;
        let llr = counts
            .iter()
            .map(|bins| {
                let k = bins.len() as f64;
                bins.iter()
                    .map(|&(n, p)| {
                        let (p, q) = (p as f64, (n - p) as f64);
                        ((p + 1.0) / (positives + k)).ln() - ((q + 1.0) / (negatives + k)).ln()
                    })
                    .collect()
            })
            .collect();
        NaiveBayes {
            prior: ((positives + 1.0) / (negatives + 1.0)).ln(),
            llr,
            counts,
        }
    }

    /// The probability of a positive, per row.
    pub fn predict(&self, x: &Binned) -> Vec<f64> {
        (0..x.n_rows)
            .map(|r| {
                let log_odds = self.prior
                    + x.row(r)
                        .iter()
                        .enumerate()
                        .map(|(f, &bin)| self.llr[f][bin as usize])
                        .sum::<f64>();
                sigmoid(log_odds)
            })
            .collect()
    }

    /// How much a value of an attribute moves the log-odds.
    pub fn llr(&self, feature: usize, bin: u8) -> f64 {
        self.llr[feature][bin as usize]
    }

    /// Training rows with this value, and how many were positive.
    pub fn count(&self, feature: usize, bin: u8) -> (usize, usize) {
        self.counts[feature][bin as usize]
    }
}
