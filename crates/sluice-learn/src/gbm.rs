//! Gradient-boosted trees for the logistic loss, on binned features: histograms of gradient
//! and hessian per bin, depth-limited trees grown level by level (the larger child's histogram
//! is its parent's minus the smaller child's), shrinkage, row subsampling, and as many rounds
//! as improve the log loss on a held-out part of the training rows.
//!
//! A split sends a set of bins left: for numbers a prefix of the ordered bins, with missing
//! values on whichever side fits better; for categories a prefix of the categories ordered by
//! their mean gradient, which finds the best two-way grouping of categories.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::encode::{Binned, MISSING_BIN};
use crate::logistic::sigmoid;
use crate::metrics::log_loss;
use crate::split::holdout;

/// How trees are grown and how many.
#[derive(Debug, Clone, Serialize)]
pub struct GbmParams {
    /// Shrinkage: each tree's leaves are scaled by this.
    pub learning_rate: f64,
    /// Levels of splits per tree.
    pub max_depth: usize,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Share of rows each tree sees.
    pub subsample: f64,
    /// Share of features each tree may split on.
    pub colsample: f64,
    /// Most rounds.
    pub max_rounds: usize,
    /// Stop after this many rounds without a better held-out log loss.
    pub patience: usize,
    /// Share of the training rows held out to choose the number of rounds.
    pub validation: f64,
    /// Whether to boost again on all training rows once the number of rounds is chosen.
    pub refit: bool,
}

impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            learning_rate: 0.1,
            max_depth: 4,
            min_leaf: 20,
            l2: 1.0,
            subsample: 0.8,
            colsample: 0.8,
            max_rounds: 2000,
            patience: 50,
            validation: 0.2,
            refit: true,
        }
    }
}

/// Marks a leaf.
const LEAF: u32 = u32::MAX;

/// A tree node: a split or a leaf.
#[derive(Debug, Clone)]
struct Node {
    /// The feature split on, or [`LEAF`].
    feature: u32,
    /// Bins that go left, as a bit set.
    left_bins: [u64; 4],
    left: u32,
    right: u32,
    /// A leaf's log-odds contribution.
    value: f64,
    /// The split's loss reduction.
    gain: f64,
}

impl Node {
    fn leaf(value: f64) -> Node {
        Node {
            feature: LEAF,
            left_bins: [0; 4],
            left: 0,
            right: 0,
            value,
            gain: 0.0,
        }
    }
}

fn goes_left(bins: &[u64; 4], bin: u8) -> bool {
    (bins[(bin >> 6) as usize] >> (bin & 63)) & 1 == 1
}

/// A fitted ensemble.
#[derive(Debug, Clone)]
pub struct Gbm {
    base: f64,
    trees: Vec<Vec<Node>>,
    n_features: usize,
}

/// Gradient, hessian and row count of one bin.
type Cell = [f64; 3];

impl Gbm {
    /// Boosts on `x`: first on part of it, holding out the rest to choose the number of
    /// rounds (the one with the best held-out log loss); then, if `params.refit`, again on
    /// all of it for that many rounds.
    pub fn fit(x: &Binned, labels: &[bool], params: &GbmParams, rng: &mut ChaCha8Rng) -> Gbm {
        let all: Vec<usize> = (0..x.n_rows).collect();
        let (fit, held) = holdout(&all, labels, params.validation, rng);
        let pick = |rows: &[usize]| rows.iter().map(|&r| labels[r]).collect::<Vec<bool>>();
        let (y_fit, y_held) = (pick(&fit), pick(&held));
        let x_held = x.select(&held);
        let early = boost(
            &x.select(&fit),
            &y_fit,
            Some((&x_held, &y_held)),
            params.max_rounds,
            params,
            rng,
        );
        if !params.refit {
            return early;
        }
        boost(x, labels, None, early.trees.len(), params, rng)
    }

    /// The probability of a positive per row.
    pub fn predict(&self, x: &Binned) -> Vec<f64> {
        (0..x.n_rows)
            .map(|r| {
                let row = x.row(r);
                sigmoid(self.base + self.trees.iter().map(|t| predict_tree(t, row)).sum::<f64>())
            })
            .collect()
    }

    /// How many trees it kept.
    pub fn rounds(&self) -> usize {
        self.trees.len()
    }

    /// Total loss reduction of the splits on each feature.
    pub fn gain(&self) -> Vec<f64> {
        let mut gain = vec![0.0; self.n_features];
        for node in self.trees.iter().flatten() {
            if node.feature != LEAF {
                gain[node.feature as usize] += node.gain;
            }
        }
        gain
    }
}

/// Boosts up to `rounds` rounds on `x`; with a held-out set, stops after `patience` rounds
/// without a better held-out log loss and keeps the best rounds.
fn boost(
    x: &Binned,
    labels: &[bool],
    held: Option<(&Binned, &[bool])>,
    rounds: usize,
    params: &GbmParams,
    rng: &mut ChaCha8Rng,
) -> Gbm {
    let positives = labels.iter().filter(|&&y| y).count() as f64;
    let base = ((positives + 0.5) / (labels.len() as f64 - positives + 0.5)).ln();
    let mut model = Gbm {
        base,
        trees: Vec::new(),
        n_features: x.n_features,
    };
    let mut offsets = Vec::with_capacity(x.n_features);
    let mut total_bins = 0;
    for &n in &x.n_bins {
        offsets.push(total_bins);
        total_bins += n;
    }
    let grower = Grower {
        x,
        offsets: &offsets,
        total_bins,
        params,
    };
    let mut f = vec![base; x.n_rows];
    let mut g = vec![0.0; x.n_rows];
    let mut h = vec![0.0; x.n_rows];
    let mut f_held = vec![base; held.map_or(0, |(x, _)| x.n_rows)];
    let mut probabilities = f_held.clone();
    let (mut best_loss, mut best_rounds) = (f64::INFINITY, rounds);
    let mut rows: Vec<u32> = Vec::with_capacity(x.n_rows);
    let mut out_of_bag: Vec<u32> = Vec::new();
    for round in 0..rounds {
        for (r, &y) in labels.iter().enumerate() {
            let p = sigmoid(f[r]);
            g[r] = p - if y { 1.0 } else { 0.0 };
            h[r] = (p * (1.0 - p)).max(1e-12);
        }
        rows.clear();
        out_of_bag.clear();
        for r in 0..x.n_rows as u32 {
            if params.subsample >= 1.0 || rng.random::<f64>() < params.subsample {
                rows.push(r);
            } else {
                out_of_bag.push(r);
            }
        }
        let allowed: Vec<bool> = (0..x.n_features)
            .map(|_| params.colsample >= 1.0 || rng.random::<f64>() < params.colsample)
            .collect();
        let (tree, leaves) = grower.grow(&g, &h, &mut rows, &allowed);
        // The rows the tree grew on are grouped by leaf already; the others go down it.
        for (start, end, value) in leaves {
            for &r in &rows[start..end] {
                f[r as usize] += value;
            }
        }
        for &r in &out_of_bag {
            f[r as usize] += predict_tree(&tree, x.row(r as usize));
        }
        model.trees.push(tree);
        let Some((x_held, y_held)) = held else {
            continue;
        };
        let tree = model.trees.last().expect("just pushed");
        for (r, f) in f_held.iter_mut().enumerate() {
            *f += predict_tree(tree, x_held.row(r));
            probabilities[r] = sigmoid(*f);
        }
        let loss = log_loss(&probabilities, y_held);
        if loss < best_loss - 1e-9 {
            (best_loss, best_rounds) = (loss, round + 1);
        } else if (round + 1).saturating_sub(best_rounds) >= params.patience {
            break;
        }
    }
    model.trees.truncate(best_rounds.max(1));
    model
}

fn predict_tree(nodes: &[Node], row: &[u8]) -> f64 {
    let mut i = 0;
    loop {
        let node = &nodes[i];
        if node.feature == LEAF {
            return node.value;
        }
        i = if goes_left(&node.left_bins, row[node.feature as usize]) {
            node.left
        } else {
            node.right
        } as usize;
    }
}

/// The best split found for a node.
struct Best {
    gain: f64,
    feature: usize,
    left_bins: [u64; 4],
}

/// Grows one tree over a fixed binned training set.
struct Grower<'a> {
    x: &'a Binned,
    offsets: &'a [usize],
    total_bins: usize,
    params: &'a GbmParams,
}

/// A node waiting to be split: its rows are `rows[start..end]`.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    histogram: Vec<Cell>,
}

impl Grower<'_> {
    /// Grows a tree on `rows` (reordered so each leaf's rows are together); returns it and
    /// each leaf's range of `rows` and value.
    fn grow(
        &self,
        g: &[f64],
        h: &[f64],
        rows: &mut [u32],
        allowed: &[bool],
    ) -> (Vec<Node>, Vec<(usize, usize, f64)>) {
        let params = self.params;
        let mut nodes = vec![Node::leaf(0.0)];
        let mut histogram = vec![[0.0; 3]; self.total_bins];
        self.fill(&rows[..], g, h, &mut histogram);
        let mut queue = vec![Pending {
            node: 0,
            start: 0,
            end: rows.len(),
            depth: 0,
            histogram,
        }];
        let mut leaves = Vec::new();
        let mut scratch = vec![0u32; rows.len()];
        while let Some(pending) = queue.pop() {
            let (sum_g, sum_h, n) = self.totals(&pending.histogram);
            let value = -sum_g / (sum_h + params.l2) * params.learning_rate;
            nodes[pending.node] = Node::leaf(value);
            let best = if pending.depth >= params.max_depth || n < 2.0 * params.min_leaf as f64 {
                None
            } else {
                self.best_split(&pending.histogram, allowed)
            };
            let Some(best) = best else {
                leaves.push((pending.start, pending.end, value));
                continue;
            };
            // Partition the node's rows, those going left first, keeping their order (rows in
            // ascending order read the binned matrix front to back). Branch-free: each row is
            // written to both sides and the side it belongs to advances.
            let slice = &mut rows[pending.start..pending.end];
            let (mut n_left, mut n_right) = (0, 0);
            for i in 0..slice.len() {
                let r = slice[i];
                let bin = self.x.values[r as usize * self.x.n_features + best.feature];
                let left = goes_left(&best.left_bins, bin);
                slice[n_left] = r;
                scratch[n_right] = r;
                n_left += usize::from(left);
                n_right += usize::from(!left);
            }
            slice[n_left..].copy_from_slice(&scratch[..n_right]);
            let mid = pending.start + n_left;
            let (left, right) = (nodes.len(), nodes.len() + 1);
            nodes.push(Node::leaf(0.0));
            nodes.push(Node::leaf(0.0));
            nodes[pending.node] = Node {
                feature: best.feature as u32,
                left_bins: best.left_bins,
                left: left as u32,
                right: right as u32,
                value,
                gain: best.gain,
            };
            // The smaller child's histogram is counted; the larger one's is the parent's
            // minus it.
            let mut larger = pending.histogram;
            let mut smaller = vec![[0.0; 3]; self.total_bins];
            let left_smaller = mid - pending.start <= pending.end - mid;
            let small_rows = if left_smaller {
                &rows[pending.start..mid]
            } else {
                &rows[mid..pending.end]
            };
            self.fill(small_rows, g, h, &mut smaller);
            for (l, s) in larger.iter_mut().zip(&smaller) {
                l[0] -= s[0];
                l[1] -= s[1];
                l[2] -= s[2];
            }
            let (left_histogram, right_histogram) = if left_smaller {
                (smaller, larger)
            } else {
                (larger, smaller)
            };
            let depth = pending.depth + 1;
            queue.push(Pending {
                node: left,
                start: pending.start,
                end: mid,
                depth,
                histogram: left_histogram,
            });
            queue.push(Pending {
                node: right,
                start: mid,
                end: pending.end,
                depth,
                histogram: right_histogram,
            });
        }
        (nodes, leaves)
    }

    /// Adds `rows`' gradients and hessians to their bins.
    fn fill(&self, rows: &[u32], g: &[f64], h: &[f64], histogram: &mut [Cell]) {
        let nf = self.x.n_features;
        for &r in rows {
            let r = r as usize;
            let (gr, hr) = (g[r], h[r]);
            let row = &self.x.values[r * nf..(r + 1) * nf];
            for (&bin, &offset) in row.iter().zip(self.offsets) {
                let cell = &mut histogram[offset + bin as usize];
                cell[0] += gr;
                cell[1] += hr;
                cell[2] += 1.0;
            }
        }
    }

    /// The node's totals, from its first feature's bins (every row is in one of them).
    fn totals(&self, histogram: &[Cell]) -> (f64, f64, f64) {
        histogram[..self.x.n_bins[0]]
            .iter()
            .fold((0.0, 0.0, 0.0), |t, c| (t.0 + c[0], t.1 + c[1], t.2 + c[2]))
    }

    fn best_split(&self, histogram: &[Cell], allowed: &[bool]) -> Option<Best> {
        let params = self.params;
        let (sum_g, sum_h, n) = self.totals(histogram);
        let min_leaf = params.min_leaf as f64;
        let score = |g: f64, h: f64| g * g / (h + params.l2);
        let parent = score(sum_g, sum_h);
        let mut best: Option<Best> = None;
        let mut consider =
            |feature: usize, gl: f64, hl: f64, nl: f64, left: &dyn Fn() -> [u64; 4]| {
                let (gr, hr, nr) = (sum_g - gl, sum_h - hl, n - nl);
                if nl < min_leaf || nr < min_leaf || hl < 1e-3 || hr < 1e-3 {
                    return;
                }
                let gain = score(gl, hl) + score(gr, hr) - parent;
                if gain > 1e-9 && best.as_ref().is_none_or(|b| gain > b.gain) {
                    best = Some(Best {
                        gain,
                        feature,
                        left_bins: left(),
                    });
                }
            };
        for feature in 0..self.x.n_features {
            if !allowed[feature] {
                continue;
            }
            let start = self.offsets[feature];
            let cells = &histogram[start..start + self.x.n_bins[feature]];
            if self.x.ordered[feature] {
                // Bins 1.. in order; missing values (bin 0) go left or right.
                let missing = cells[MISSING_BIN as usize];
                let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0.0);
                for (cut, cell) in cells.iter().enumerate().take(cells.len() - 1).skip(1) {
                    gl += cell[0];
                    hl += cell[1];
                    nl += cell[2];
                    if cell[2] == 0.0 {
                        continue;
                    }
                    let prefix = |with_missing: bool| {
                        let mut bins = [0u64; 4];
                        for b in 1..=cut {
                            bins[b >> 6] |= 1 << (b & 63);
                        }
                        if with_missing {
                            bins[0] |= 1;
                        }
                        bins
                    };
                    consider(feature, gl, hl, nl, &|| prefix(false));
                    if missing[2] > 0.0 {
                        consider(
                            feature,
                            gl + missing[0],
                            hl + missing[1],
                            nl + missing[2],
                            &|| prefix(true),
                        );
                    }
                }
            } else {
                // Categories ordered by mean gradient; the best split is a prefix of them.
                let mut order: Vec<usize> =
                    (0..cells.len()).filter(|&b| cells[b][2] > 0.0).collect();
                if order.len() < 2 {
                    continue;
                }
                let smooth = params.l2 + 10.0 * cells.iter().map(|c| c[1]).sum::<f64>() / n;
                order.sort_by(|&a, &b| {
                    (cells[a][0] / (cells[a][1] + smooth))
                        .total_cmp(&(cells[b][0] / (cells[b][1] + smooth)))
                        .then(a.cmp(&b))
                });
                let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0.0);
                for (i, &bin) in order[..order.len() - 1].iter().enumerate() {
                    gl += cells[bin][0];
                    hl += cells[bin][1];
                    nl += cells[bin][2];
                    let prefix = || {
                        let mut bins = [0u64; 4];
                        for &b in &order[..=i] {
                            bins[b >> 6] |= 1 << (b & 63);
                        }
                        bins
                    };
                    consider(feature, gl, hl, nl, &prefix);
                }
            }
        }
        best
    }
}
