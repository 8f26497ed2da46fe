//! L2-regularised logistic regression, fitted by Newton's method (iteratively reweighted
//! least squares) with a step-halving line search; the intercept is not penalised. The
//! regularisation strength is chosen on a stratified hold-out of the training rows.

use rand_chacha::ChaCha8Rng;

use crate::encode::Sparse;
use crate::metrics::log_loss;
use crate::split::holdout;

/// The L2 strengths tried, strongest first (each fit starts from the previous one's
/// coefficients). The penalty is `lambda / 2 * |beta|^2` against the summed log-likelihood.
pub const LAMBDAS: [f64; 4] = [300.0, 30.0, 3.0, 0.3];

/// A fitted logistic regression.
#[derive(Debug, Clone)]
pub struct Logistic {
    /// One coefficient per design column; column 0 is the intercept.
    pub beta: Vec<f64>,
    /// The L2 strength it was fitted with.
    pub lambda: f64,
}

impl Logistic {
    /// Fits with a given L2 strength, starting from `start` if given.
    pub fn fit(x: &Sparse, labels: &[bool], lambda: f64, start: Option<&[f64]>) -> Logistic {
        let mut beta = start.map_or_else(|| vec![0.0; x.n_cols], <[f64]>::to_vec);
        if start.is_none() {
            let p = labels.iter().filter(|&&y| y).count() as f64 + 0.5;
            let q = labels.len() as f64 - p + 1.0;
            beta[0] = (p / q).ln();
        }
        newton(x, labels, lambda, &mut beta);
        Logistic { beta, lambda }
    }

    /// Fits with each of [`LAMBDAS`] on 80 % of the rows, keeps the one with the best log
    /// loss on the other 20 %, and refits on all rows with it.
    pub fn fit_tuned(x: &Sparse, labels: &[bool], rng: &mut ChaCha8Rng) -> Logistic {
        let all: Vec<usize> = (0..labels.len()).collect();
        let (fit, held) = holdout(&all, labels, 0.2, rng);
        let pick = |rows: &[usize]| rows.iter().map(|&r| labels[r]).collect::<Vec<_>>();
        let (x_fit, y_fit) = (x.select(&fit), pick(&fit));
        let (x_held, y_held) = (x.select(&held), pick(&held));
        let mut best: Option<(f64, Logistic)> = None;
        let mut start: Option<Vec<f64>> = None;
        for lambda in LAMBDAS {
            let model = Logistic::fit(&x_fit, &y_fit, lambda, start.as_deref());
            let loss = log_loss(&model.predict(&x_held), &y_held);
            start = Some(model.beta.clone());
            if best.as_ref().is_none_or(|(b, _)| loss < *b) {
                best = Some((loss, model));
            }
        }
        let (_, chosen) = best.expect("LAMBDAS is not empty");
        Logistic::fit(x, labels, chosen.lambda, Some(&chosen.beta))
    }

    /// The linear predictor (log-odds) per row.
    pub fn log_odds(&self, x: &Sparse) -> Vec<f64> {
        (0..x.n_rows()).map(|r| eta(x, r, &self.beta)).collect()
    }

    /// The probability of a positive per row.
    pub fn predict(&self, x: &Sparse) -> Vec<f64> {
        self.log_odds(x).into_iter().map(sigmoid).collect()
    }
}

/// The logistic function, stable at both ends.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn eta(x: &Sparse, r: usize, beta: &[f64]) -> f64 {
    let (index, value) = x.row(r);
    index
        .iter()
        .zip(value)
        .map(|(&j, &v)| beta[j as usize] * v)
        .sum()
}

/// The penalised negative log-likelihood.
fn objective(x: &Sparse, labels: &[bool], lambda: f64, beta: &[f64]) -> f64 {
    let data: f64 = (0..x.n_rows())
        .map(|r| {
            let e = eta(x, r, beta);
            softplus(e) - if labels[r] { e } else { 0.0 }
        })
        .sum();
    data + 0.5 * lambda * beta[1..].iter().map(|b| b * b).sum::<f64>()
}

/// Newton steps until the coefficients settle; each step is halved until the objective
/// does not rise.
fn newton(x: &Sparse, labels: &[bool], lambda: f64, beta: &mut [f64]) {
    const MAX_STEPS: usize = 100;
    let p = beta.len();
    let mut current = objective(x, labels, lambda, beta);
    let mut hessian = vec![0.0; p * p];
    let mut gradient = vec![0.0; p];
    for _ in 0..MAX_STEPS {
        hessian.fill(0.0);
        for (j, g) in gradient.iter_mut().enumerate() {
            *g = if j == 0 { 0.0 } else { lambda * beta[j] };
        }
        for (r, &y) in labels.iter().enumerate() {
            let prob = sigmoid(eta(x, r, beta));
            let residual = prob - if y { 1.0 } else { 0.0 };
            let weight = (prob * (1.0 - prob)).max(1e-10);
            // Column indices ascend within a row, so (ja, jb) is in the upper triangle.
            let (index, value) = x.row(r);
            for (a, (&ja, &va)) in index.iter().zip(value).enumerate() {
                let ja = ja as usize;
                gradient[ja] += residual * va;
                let wa = weight * va;
                let upper = &mut hessian[ja * p..(ja + 1) * p];
                for (&jb, &vb) in index[a..].iter().zip(&value[a..]) {
                    upper[jb as usize] += wa * vb;
                }
            }
        }
        for j in 1..p {
            hessian[j * p + j] += lambda;
        }
        // A column no training row uses has a zero row and column: keep the matrix definite.
        for j in 0..p {
            hessian[j * p + j] += 1e-9;
        }
        let Some(step) = cholesky_solve(&mut hessian, p, &gradient) else {
            return;
        };
        let mut t = 1.0;
        let mut candidate = vec![0.0; p];
        let accepted = loop {
            for j in 0..p {
                candidate[j] = beta[j] - t * step[j];
            }
            let value = objective(x, labels, lambda, &candidate);
            if value <= current + 1e-12 * current.abs() {
                break Some(value);
            }
            t *= 0.5;
            if t < 1e-6 {
                break None;
            }
        };
        let Some(value) = accepted else {
            return;
        };
        let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
        beta.copy_from_slice(&candidate);
        let improvement = current - value;
        current = value;
        if moved < 1e-7 || improvement < 1e-10 * current.abs().max(1.0) {
            return;
        }
    }
}

/// Solves `A x = b` for a symmetric positive definite `A` given by its upper triangle
/// (row-major, `n` by `n`; overwritten by the factor). `None` if it is not definite.
fn cholesky_solve(a: &mut [f64], n: usize, b: &[f64]) -> Option<Vec<f64>> {
    // Upper-triangular U with A = U^T U, computed row by row.
    for i in 0..n {
        let mut d = a[i * n + i];
        for k in 0..i {
            d -= a[k * n + i] * a[k * n + i];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[i * n + i] = d;
        for j in i + 1..n {
            let mut s = a[i * n + j];
            for k in 0..i {
                s -= a[k * n + i] * a[k * n + j];
            }
            a[i * n + j] = s / d;
        }
    }
    // U^T y = b, then U x = y.
    let mut y = b.to_vec();
    for i in 0..n {
        let mut s = y[i];
        for k in 0..i {
            s -= a[k * n + i] * y[k];
        }
        y[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in i + 1..n {
            s -= a[i * n + k] * y[k];
        }
        y[i] = s / a[i * n + i];
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // [[4, 2], [2, 3]] x = [2, 1] → x = [0.5, 0].
        let mut a = vec![4.0, 2.0, 0.0, 3.0];
        let x = cholesky_solve(&mut a, 2, &[2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
        let mut singular = vec![1.0, 1.0, 0.0, 1.0];
        assert!(cholesky_solve(&mut singular, 2, &[1.0, 1.0]).is_none());
    }
}
