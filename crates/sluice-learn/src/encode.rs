//! Encodings fitted on training rows only, so nothing about the rows being predicted leaks into
//! the models: small integer bins (naive Bayes, boosted trees, the leakage check) and sparse
//! design matrices (logistic regression).

use std::fmt;

use crate::table::{Dataset, MISSING, Values};

/// A feature's bins. Bin 0 always holds missing values.
#[derive(Debug, Clone)]
pub enum Bins {
    /// Bin `1 + i` holds values from `edges[i - 1]` (inclusive) up to `edges[i]`; the first
    /// bin is open below, the last open above.
    Numeric {
        /// Ascending cut points, taken from the training values.
        edges: Vec<f64>,
    },
    /// Bin 1 holds rare and unseen categories ("other"); bin `2 + i` the level `kept[i]`.
    Categorical {
        /// Bin per level index of the dataset (1 for pooled levels).
        slot: Vec<u8>,
        /// Level index per kept bin.
        kept: Vec<u32>,
    },
}

/// Bin 0: missing values.
pub const MISSING_BIN: u8 = 0;
/// Bin 1 of a categorical feature: rare and unseen categories.
pub const OTHER_BIN: u8 = 1;
/// At most this many categories keep a bin of their own.
const MAX_LEVELS: usize = 253;

/// What a bin holds, in words.
#[derive(Debug, Clone, PartialEq)]
pub enum BinLabel {
    /// No value.
    Missing,
    /// Rare or unseen categories.
    Other,
    /// One category.
    Level(String),
    /// Numbers from `from` (inclusive) below `to`.
    Range {
        /// Lower bound, if any.
        from: Option<f64>,
        /// Upper bound (exclusive), if any.
        to: Option<f64>,
    },
}

impl fmt::Display for BinLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinLabel::Missing => f.write_str("(missing)"),
            BinLabel::Other => f.write_str("(other)"),
            BinLabel::Level(level) => f.write_str(level),
            BinLabel::Range { from, to } => match (from, to) {
                (Some(a), Some(b)) => write!(f, "{a} to <{b}"),
                (Some(a), None) => write!(f, ">= {a}"),
                (None, Some(b)) => write!(f, "< {b}"),
                (None, None) => f.write_str("any"),
            },
        }
    }
}

/// Bins for every feature of a dataset, fitted on some of its rows.
#[derive(Debug, Clone)]
pub struct Binning {
    /// Per feature.
    pub bins: Vec<Bins>,
}

impl Binning {
    /// Quantile bins (at most `numeric_bins`) for numbers; a bin per category seen in at
    /// least `min_rows` of `rows`, the others pooled.
    pub fn fit(data: &Dataset, rows: &[usize], numeric_bins: usize, min_rows: usize) -> Binning {
        let bins = data
            .features
            .iter()
            .map(|feature| match &feature.values {
                Values::Numeric { values, .. } => {
                    let mut sorted: Vec<f64> = rows
                        .iter()
                        .map(|&r| values[r])
                        .filter(|v| !v.is_nan())
                        .collect();
                    sorted.sort_by(f64::total_cmp);
                    Bins::Numeric {
                        edges: quantile_edges(&sorted, numeric_bins),
                    }
                }
                Values::Categorical { levels, codes } => {
                    let mut counts = vec![0usize; levels.len()];
                    for &r in rows {
                        if codes[r] != MISSING {
                            counts[codes[r] as usize] += 1;
                        }
                    }
                    let mut kept: Vec<u32> = (0..levels.len() as u32)
                        .filter(|&l| counts[l as usize] >= min_rows.max(1))
                        .collect();
                    kept.sort_by_key(|&l| (std::cmp::Reverse(counts[l as usize]), l));
                    kept.truncate(MAX_LEVELS);
                    let mut slot = vec![OTHER_BIN; levels.len()];
                    for (i, &l) in kept.iter().enumerate() {
                        slot[l as usize] = 2 + i as u8;
                    }
                    Bins::Categorical { slot, kept }
                }
            })
            .collect();
        Binning { bins }
    }

    /// The number of bins of feature `f`.
    pub fn n_bins(&self, f: usize) -> usize {
        match &self.bins[f] {
            Bins::Numeric { edges } => edges.len() + 2,
            Bins::Categorical { kept, .. } => kept.len() + 2,
        }
    }

    /// The bin of feature `f` in `row`.
    pub fn bin(&self, data: &Dataset, f: usize, row: usize) -> u8 {
        match (&self.bins[f], &data.features[f].values) {
            (Bins::Numeric { edges }, Values::Numeric { values, .. }) => {
                let v = values[row];
                if v.is_nan() {
                    MISSING_BIN
                } else {
                    1 + edges.partition_point(|e| *e <= v) as u8
                }
            }
            (Bins::Categorical { slot, .. }, Values::Categorical { codes, .. }) => {
                match codes[row] {
                    MISSING => MISSING_BIN,
                    code => slot[code as usize],
                }
            }
            _ => unreachable!("bins are fitted on the same dataset"),
        }
    }

    /// The binned rows, row-major.
    pub fn apply(&self, data: &Dataset, rows: &[usize]) -> Binned {
        let n_features = self.bins.len();
        let mut values = vec![0u8; rows.len() * n_features];
        for f in 0..n_features {
            for (i, &r) in rows.iter().enumerate() {
                values[i * n_features + f] = self.bin(data, f, r);
            }
        }
        Binned {
            n_rows: rows.len(),
            n_features,
            values,
            n_bins: (0..n_features).map(|f| self.n_bins(f)).collect(),
            ordered: self
                .bins
                .iter()
                .map(|b| matches!(b, Bins::Numeric { .. }))
                .collect(),
        }
    }

    /// What bin `bin` of feature `f` holds.
    pub fn describe(&self, data: &Dataset, f: usize, bin: u8) -> BinLabel {
        if bin == MISSING_BIN {
            return BinLabel::Missing;
        }
        match (&self.bins[f], &data.features[f].values) {
            (Bins::Numeric { edges }, _) => {
                let i = bin as usize - 1;
                BinLabel::Range {
                    from: i.checked_sub(1).map(|j| edges[j]),
                    to: edges.get(i).copied(),
                }
            }
            (Bins::Categorical { kept, .. }, Values::Categorical { levels, .. }) => {
                if bin == OTHER_BIN {
                    BinLabel::Other
                } else {
                    BinLabel::Level(levels[kept[bin as usize - 2] as usize].clone())
                }
            }
            _ => unreachable!("bins are fitted on the same dataset"),
        }
    }

    /// The categories pooled into feature `f`'s "other" bin (empty for numbers).
    pub fn pooled<'d>(&self, data: &'d Dataset, f: usize) -> Vec<&'d str> {
        match (&self.bins[f], &data.features[f].values) {
            (Bins::Categorical { slot, .. }, Values::Categorical { levels, .. }) => levels
                .iter()
                .zip(slot)
                .filter(|(_, s)| **s == OTHER_BIN)
                .map(|(l, _)| l.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Cut points for about `bins` equally filled bins of `sorted` values; each distinct value gets
/// its own bin when there are few. Cut points are values from the data, so rules read well.
fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    let Some(&min) = sorted.first() else {
        return Vec::new();
    };
    let mut distinct = sorted.to_vec();
    distinct.dedup();
    if distinct.len() <= bins {
        return distinct[1..].to_vec();
    }
    let mut edges: Vec<f64> = Vec::with_capacity(bins);
    for k in 1..bins {
        let edge = sorted[k * sorted.len() / bins];
        if edge > min && edges.last().is_none_or(|last| edge > *last) {
            edges.push(edge);
        }
    }
    edges
}

/// Rows as bins: `values[row * n_features + feature]`.
#[derive(Debug, Clone)]
pub struct Binned {
    /// Rows.
    pub n_rows: usize,
    /// Features.
    pub n_features: usize,
    /// The bins, row-major.
    pub values: Vec<u8>,
    /// Bins per feature.
    pub n_bins: Vec<usize>,
    /// Whether a feature's bins are ordered (numbers) or not (categories).
    pub ordered: Vec<bool>,
}

impl Binned {
    /// One row's bins.
    pub fn row(&self, r: usize) -> &[u8] {
        &self.values[r * self.n_features..(r + 1) * self.n_features]
    }

    /// A subset of the rows.
    pub fn select(&self, rows: &[usize]) -> Binned {
        let mut values = Vec::with_capacity(rows.len() * self.n_features);
        for &r in rows {
            values.extend_from_slice(self.row(r));
        }
        Binned {
            n_rows: rows.len(),
            values,
            ..self.clone_meta()
        }
    }

    fn clone_meta(&self) -> Binned {
        Binned {
            n_rows: 0,
            n_features: self.n_features,
            values: Vec::new(),
            n_bins: self.n_bins.clone(),
            ordered: self.ordered.clone(),
        }
    }
}

/// A sparse matrix, row by row: mostly one-hot columns.
#[derive(Debug, Clone)]
pub struct Sparse {
    /// Columns.
    pub n_cols: usize,
    offsets: Vec<usize>,
    index: Vec<u32>,
    value: Vec<f64>,
}

impl Sparse {
    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Row `r`'s column indices and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f64]) {
        let range = self.offsets[r]..self.offsets[r + 1];
        (&self.index[range.clone()], &self.value[range])
    }

    /// A subset of the rows.
    pub fn select(&self, rows: &[usize]) -> Sparse {
        let mut out = Sparse {
            n_cols: self.n_cols,
            offsets: vec![0],
            index: Vec::new(),
            value: Vec::new(),
        };
        for &r in rows {
            let (index, value) = self.row(r);
            out.index.extend_from_slice(index);
            out.value.extend_from_slice(value);
            out.offsets.push(out.index.len());
        }
        out
    }
}

/// A column of a design matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Term {
    /// Always 1.
    Intercept,
    /// 1 when feature `feature` falls in bin `bin` (a category, a range, missing).
    Bin {
        /// The feature.
        feature: usize,
        /// The bin.
        bin: u8,
    },
    /// The feature's number, clipped to its training 1st-99th percentiles and standardised
    /// ([`Encoding::BinsAndLinear`]) or capped at 1 ([`Encoding::Capped`]); 0 when missing.
    Linear {
        /// The feature.
        feature: usize,
    },
}

/// How numbers enter a linear term: clipped, then standardised.
#[derive(Debug, Clone, Copy)]
struct Scale {
    low: f64,
    high: f64,
    mean: f64,
    sd: f64,
}

/// How a feature enters a design matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not at all.
    Skip,
    /// An indicator per bin (categories, "other", missing, numeric ranges).
    Bins,
    /// An indicator per bin and, for a number, a linear term (clipped and standardised).
    BinsAndLinear,
    /// The number itself, capped at 1 (missing: 0), as one linear term without bins: the
    /// share of a rule's points that an engagement rule capped at its own points gives.
    Capped,
}

/// The columns of a logistic regression: an intercept, an indicator per bin seen in training
/// (categories, "other", missing, numeric ranges), and linear terms for numbers.
#[derive(Debug, Clone)]
pub struct Design {
    /// The bins behind the indicator columns.
    pub binning: Binning,
    /// The columns.
    pub terms: Vec<Term>,
    /// Column per (feature, bin), if the bin was seen in training.
    columns: Vec<Vec<Option<u32>>>,
    /// Column and scale of each feature's linear term.
    linear: Vec<Option<(u32, Scale)>>,
}

impl Design {
    /// Fits the columns on `rows`: bins as in [`Binning::fit`]; with `linear`, also a linear
    /// term per numeric feature.
    pub fn fit(
        data: &Dataset,
        rows: &[usize],
        numeric_bins: usize,
        min_rows: usize,
        linear: bool,
    ) -> Design {
        let encoding = if linear {
            Encoding::BinsAndLinear
        } else {
            Encoding::Bins
        };
        let encodings = vec![encoding; data.features.len()];
        Design::fit_with(data, rows, numeric_bins, min_rows, &encodings)
    }

    /// Fits the columns on `rows`, each feature encoded as `encodings` says.
    pub fn fit_with(
        data: &Dataset,
        rows: &[usize],
        numeric_bins: usize,
        min_rows: usize,
        encodings: &[Encoding],
    ) -> Design {
        let binning = Binning::fit(data, rows, numeric_bins, min_rows);
        let mut terms = vec![Term::Intercept];
        let mut columns = Vec::with_capacity(data.features.len());
        let mut linears = Vec::with_capacity(data.features.len());
        for (f, (feature, &encoding)) in data.features.iter().zip(encodings).enumerate() {
            let mut seen = vec![false; binning.n_bins(f)];
            if matches!(encoding, Encoding::Bins | Encoding::BinsAndLinear) {
                for &r in rows {
                    seen[binning.bin(data, f, r) as usize] = true;
                }
            }
            columns.push(
                seen.iter()
                    .enumerate()
                    .map(|(bin, &seen)| {
                        seen.then(|| {
                            terms.push(Term::Bin {
                                feature: f,
                                bin: bin as u8,
                            });
                            terms.len() as u32 - 1
                        })
                    })
                    .collect(),
            );
            let scale = match (&feature.values, encoding) {
                (Values::Numeric { values, .. }, Encoding::BinsAndLinear) => scale(values, rows),
                (Values::Numeric { .. }, Encoding::Capped) => Some(Scale {
                    low: f64::MIN,
                    high: 1.0,
                    mean: 0.0,
                    sd: 1.0,
                }),
                _ => None,
            };
            linears.push(scale.map(|s| {
                terms.push(Term::Linear { feature: f });
                (terms.len() as u32 - 1, s)
            }));
        }
        Design {
            binning,
            terms,
            columns,
            linear: linears,
        }
    }

    /// The design matrix of `rows`.
    pub fn matrix(&self, data: &Dataset, rows: &[usize]) -> Sparse {
        let per_row = 1 + 2 * data.features.len();
        let mut out = Sparse {
            n_cols: self.terms.len(),
            offsets: Vec::with_capacity(rows.len() + 1),
            index: Vec::with_capacity(rows.len() * per_row),
            value: Vec::with_capacity(rows.len() * per_row),
        };
        out.offsets.push(0);
        for &r in rows {
            out.index.push(0);
            out.value.push(1.0);
            for (f, feature) in data.features.iter().enumerate() {
                let bin = self.binning.bin(data, f, r);
                if let Some(column) = self.columns[f][bin as usize] {
                    out.index.push(column);
                    out.value.push(1.0);
                }
                if let (Some((column, s)), Values::Numeric { values, .. }) =
                    (self.linear[f], &feature.values)
                {
                    let v = values[r];
                    let x = (v.clamp(s.low, s.high) - s.mean) / s.sd;
                    // A zero adds nothing to any sum: left out, as a missing value is.
                    if !v.is_nan() && x != 0.0 {
                        out.index.push(column);
                        out.value.push(x);
                    }
                }
            }
            out.offsets.push(out.index.len());
        }
        out
    }
}

/// The clipping range and standardisation of a number over `rows`, or `None` when it does not
/// vary there.
fn scale(values: &[f64], rows: &[usize]) -> Option<Scale> {
    let mut sorted: Vec<f64> = rows
        .iter()
        .map(|&r| values[r])
        .filter(|v| !v.is_nan())
        .collect();
    if sorted.len() < 2 {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (low, high) = (at(0.01), at(0.99));
    let n = sorted.len() as f64;
    let clipped = sorted.iter().map(|v| v.clamp(low, high));
    let mean = clipped.clone().sum::<f64>() / n;
    let var = clipped.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (var > 1e-12).then(|| Scale {
        low,
        high,
        mean,
        sd: var.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_edges_are_data_values_without_empty_bins() {
        let sorted: Vec<f64> = (0..100).map(|i| (i / 10) as f64).collect();
        assert_eq!(
            quantile_edges(&sorted, 20),
            (1..10).map(f64::from).collect::<Vec<_>>()
        );
        let mut skewed = vec![0.0; 60];
        skewed.extend((1..=40).map(f64::from));
        let edges = quantile_edges(&skewed, 5);
        assert!(
            edges[0] > 0.0 && edges.windows(2).all(|w| w[0] < w[1]),
            "{edges:?}"
        );
        assert!(quantile_edges(&[], 5).is_empty());
    }
}
