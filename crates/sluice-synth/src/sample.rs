//! Small sampling helpers over a ChaCha stream. Implemented here rather than pulled from
//! `rand_distr` so that the byte stream of every file depends only on code in this crate.
//!
//! The logarithm and exponential are implemented here too, with IEEE-754 basic operations
//! only: `f64::ln` and `f64::exp` come from the platform's libm, which may round differently
//! from one system to another, and a single ulp can flip a threshold and change the output.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Uniform in `[0, 1)`.
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    rng.random::<f64>()
}

/// True with probability `p` (clamped to `[0, 1]`).
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    unit(rng) < p
}

/// Standard normal, by Marsaglia's polar method (no trigonometry, so portable; one of the
/// pair is discarded: simplicity over speed).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let u = 2.0 * unit(rng) - 1.0;
        let v = 2.0 * unit(rng) - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            // sqrt is correctly rounded by IEEE 754, hence portable.
            return u * (-2.0 * ln(s) / s).sqrt();
        }
    }
}

/// Exponential with the given mean.
pub(crate) fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    -mean * ln(1.0 - unit(rng))
}

/// A geometric-like count `>= 0` with the given mean, capped so one lead stays bounded.
pub(crate) fn count(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    const CAP: f64 = 400.0;
    exponential(rng, mean).floor().min(CAP) as u32
}

/// Uniform integer in `[lo, hi)`; `lo` when the range is empty.
pub(crate) fn between(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// Uniform index into a slice of length `len > 0`.
pub(crate) fn index(rng: &mut ChaCha8Rng, len: usize) -> usize {
    rng.random_range(0..len)
}

/// A uniformly chosen element of a non-empty slice.
pub(crate) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[index(rng, items.len())]
}

/// An element chosen with probability proportional to its weight (weights sum > 0).
pub(crate) fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|&(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for &(item, weight) in items {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    // Unreachable while `roll < total`; the last item keeps this total without a panic.
    items[items.len() - 1].0
}

/// The logistic function.
pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + exp(-x))
}

const LN_2: f64 = std::f64::consts::LN_2;

/// Natural logarithm of a positive finite `x` (relative error ~1e-15); NaN otherwise.
pub(crate) fn ln(x: f64) -> f64 {
    if !(x > 0.0 && x.is_finite()) {
        return f64::NAN;
    }
    // x = m * 2^e with m in [1, 2); subnormals are scaled into the normal range first.
    let (x, bias) = if x < f64::MIN_POSITIVE {
        (x * 2f64.powi(54), -54)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023 + bias;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // Centre m on 1 so that the series below converges fast.
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    e as f64 * LN_2 + 2.0 * sum
}

/// e^x (relative error ~1e-15), saturating to 0 and infinity far out.
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -708.0 {
        return 0.0;
    }
    // x = k ln 2 + r with |r| <= ln 2 / 2, then e^x = 2^k e^r.
    // ln 2 split in two (as in fdlibm) so that k * LN2_HI is exact and r keeps its precision.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let k = (x / LN_2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=20 {
        term *= r / f64::from(n);
        sum += term;
    }
    // k is within [-1022, 1023] here, so 2^k is a normal number built exactly from bits.
    sum * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_ln_and_exp_agree_with_libm() {
        let mut x = 1e-300_f64;
        while x < 1e300 {
            let (mine, libm) = (ln(x), x.ln());
            assert!(
                (mine - libm).abs() <= 1e-14 * libm.abs().max(1.0),
                "ln({x}) = {mine}, libm {libm}"
            );
            x *= 1.37;
        }
        for i in -7000..=7000 {
            let x = f64::from(i) / 10.0;
            let (mine, libm) = (exp(x), x.exp());
            assert!(
                (mine - libm).abs() <= 1e-14 * libm,
                "exp({x}) = {mine}, libm {libm}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(0.0).is_nan() && ln(-1.0).is_nan());
        assert!(ln(f64::MIN_POSITIVE / 4.0).is_finite());
    }

    #[test]
    fn normal_has_mean_zero_and_unit_variance() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 100_000;
        let draws: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / f64::from(n);
        let var = draws.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / f64::from(n);
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "mean {mean}, variance {var}"
        );
    }
}
