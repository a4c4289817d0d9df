//! Bernoulli(exp(-γ)) for a rational γ ≥ 0, exactly (CKS 2020, Alg. 1).
//!
//! For γ ≤ 1, Bernoulli(γ/k) trials for k = 1, 2, … until one fails; the result
//! is whether that k is odd. For γ > 1, floor(γ) runs of exp(-1) then one of
//! exp(-frac(γ)). This is the acceptance test of the discrete Laplace (Alg. 2)
//! and of the discrete Gaussian (Alg. 3), in `u64`, `u128` and big integers.

use num_bigint::BigUint;
use rand::Rng;

use super::bernoulli::{bernoulli, bernoulli_big, bernoulli_u128};
use super::uniform::uniform_below;
use super::Ratio;

/// Bernoulli(exp(-1)): CKS Alg. 1 with γ = 1. Its first trial,
/// Bernoulli(γ/1), always succeeds, so the loop starts at k = 2.
#[inline]
pub(crate) fn bernoulli_exp_one<R: Rng + ?Sized>(rng: &mut R) -> bool {
    let mut k: u64 = 2;
    // Bernoulli(1/k) succeeds iff a uniform integer below k is 0. Reaching
    // k = 2^64 needs probability 1/(2^64)! of luck; saturating only keeps the
    // arithmetic panic-free.
    while uniform_below(rng, k) == 0 {
        k = k.saturating_add(1);
    }
    k % 2 == 1
}

/// Bernoulli(exp(-q)) for an integer q: q independent Bernoulli(exp(-1))
/// trials, stopping at the first failure (CKS Alg. 1, γ > 1 branch).
#[inline]
fn bernoulli_exp_whole<R: Rng + ?Sized>(rng: &mut R, q: u128) -> bool {
    let mut i: u128 = 0;
    while i < q {
        if !bernoulli_exp_one(rng) {
            return false;
        }
        i += 1;
    }
    true
}

/// Bernoulli(exp(-r/d)) for `0 <= r < d` (CKS Alg. 1, γ ∈ [0, 1] branch):
/// with k = 1, 2, …, draw A ~ Bernoulli(γ/k) until A = 0; true iff that k is
/// odd. P(stop at k) = γ^(k-1)/(k-1)! · (1 - γ/k), whose odd-k sum is exp(-γ).
///
/// Bernoulli(r/(d·k)) is one uniform below d·k when that product fits in
/// `u128`, else Bernoulli(r/d) AND Bernoulli(1/k) (independent, same law).
#[inline]
pub(crate) fn bernoulli_exp_fraction<R: Rng + ?Sized>(rng: &mut R, r: u128, d: u128) -> bool {
    if r == 0 {
        return true;
    }
    let mut k: u64 = 1;
    loop {
        let a = match d.checked_mul(u128::from(k)) {
            Some(dk) => bernoulli_u128(rng, r, dk),
            None => bernoulli_u128(rng, r, d) && bernoulli(rng, 1, k),
        };
        if !a {
            return k % 2 == 1;
        }
        // See bernoulli_exp_one: k never gets near 2^64.
        k = k.saturating_add(1);
    }
}

/// Bernoulli(exp(-n/d)), `d >= 1`, in `u128` (CKS Alg. 1).
#[inline]
pub(crate) fn bernoulli_exp_u128<R: Rng + ?Sized>(rng: &mut R, n: u128, d: u128) -> bool {
    let d = d.max(1);
    bernoulli_exp_whole(rng, n / d) && bernoulli_exp_fraction(rng, n % d, d)
}

/// Bernoulli(exp(-n/d)), `d >= 1`, in `BigUint` (CKS Alg. 1): the exact
/// fallback of the discrete Gaussian.
pub(crate) fn bernoulli_exp_big<R: Rng + ?Sized>(rng: &mut R, n: &BigUint, d: &BigUint) -> bool {
    if d.bits() == 0 {
        // Out of domain; never reached from this module. Read d = 0 as 1.
        return bernoulli_exp_big(rng, n, &BigUint::from(1u8));
    }
    let mut q = n / d;
    let r = n - &q * d; // n mod d, without a second division
                        // Whole part, in chunks of u128::MAX trials: exp(-(a+b)) = exp(-a)·exp(-b).
    let chunk = BigUint::from(u128::MAX);
    while q > chunk {
        if !bernoulli_exp_whole(rng, u128::MAX) {
            return false;
        }
        q -= &chunk;
    }
    // Now q <= u128::MAX, so the conversion cannot fail.
    if !bernoulli_exp_whole(rng, u128::try_from(&q).unwrap_or(u128::MAX)) {
        return false;
    }
    // Fractional part r/d ∈ [0, 1): Bernoulli(r/(d·k)) as
    // Bernoulli(r/d) AND Bernoulli(1/k).
    if r.bits() == 0 {
        return true;
    }
    let mut k: u64 = 1;
    loop {
        let a = bernoulli_big(rng, &r, d) && bernoulli(rng, 1, k);
        if !a {
            return k % 2 == 1;
        }
        k = k.saturating_add(1);
    }
}

/// Bernoulli(exp(-γ)) for a rational `γ = gamma.num / gamma.den >= 0`
/// (CKS 2020, Alg. 1), exactly, from uniform integers only.
///
/// For γ > 1 it runs floor(γ) Bernoulli(exp(-1)) trials, stopping at the first
/// failure, then Bernoulli(exp(-frac(γ))); expected cost O(1) whatever γ.
/// `γ = 0` is always true; `gamma.den = 0` is read as 1.
pub fn bernoulli_exp<R: Rng + ?Sized>(rng: &mut R, gamma: Ratio) -> bool {
    let den = gamma.den_or_one();
    bernoulli_exp_whole(rng, u128::from(gamma.num / den))
        && bernoulli_exp_fraction(rng, u128::from(gamma.num % den), u128::from(den))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{assert_fits_with_power, scaled, seeded, Model, ALPHA};

    #[test]
    fn bernoulli_exp_of_zero_is_always_true() {
        let mut rng = seeded(4);
        for den in [1u64, 2, 7, u64::MAX, 0] {
            for _ in 0..1000 {
                assert!(bernoulli_exp(&mut rng, Ratio { num: 0, den }));
            }
        }
        for _ in 0..1000 {
            assert!(bernoulli_exp_fraction(&mut rng, 0, 1));
            assert!(bernoulli_exp_u128(&mut rng, 0, u128::MAX));
            assert!(bernoulli_exp_big(
                &mut rng,
                &BigUint::ZERO,
                &BigUint::from(3u8)
            ));
        }
    }

    #[test]
    fn bernoulli_exp_fits_exp_minus_gamma() {
        let n = 40_000;
        for (i, gamma) in [
            Ratio { num: 1, den: 3 },
            Ratio { num: 1, den: 1 },
            Ratio { num: 5, den: 2 },
        ]
        .into_iter()
        .enumerate()
        {
            let model = Model::bernoulli((-(gamma.num as f64) / gamma.den as f64).exp());
            assert_fits_with_power(
                &format!("bernoulli_exp({gamma:?})"),
                &model,
                n,
                10 + i as u64,
                gamma,
                [scaled(gamma, 11, 10), scaled(gamma, 9, 10)],
                |rng, g| i64::from(bernoulli_exp(rng, g)),
            );
        }
    }

    #[test]
    fn bernoulli_exp_paths_agree_with_exp_minus_gamma() {
        // The u128 path with a denominator beyond 2^64 (uniforms by wide
        // rejection), and the BigUint path with denominators beyond u128.
        // Parameters: γ·10/10 (nominal), γ·11/10 and γ·9/10 (power).
        let n = 30_000;
        let factors = [(10u128, 10u128), (11, 10), (9, 10)];
        for (i, (a, b)) in [(1u128, 3u128), (5, 2)].into_iter().enumerate() {
            let model = Model::bernoulli((-(a as f64) / b as f64).exp());
            let wide: Vec<(u128, u128)> = factors
                .iter()
                .map(|&(x, y)| ((a * x) << 100, (b * y) << 100))
                .collect();
            assert_fits_with_power(
                &format!("bernoulli_exp_u128({a}/{b} scaled by 2^100)"),
                &model,
                n,
                20 + i as u64,
                0,
                [1, 2],
                |rng, j: usize| i64::from(bernoulli_exp_u128(rng, wide[j].0, wide[j].1)),
            );
            let big: Vec<(BigUint, BigUint)> = factors
                .iter()
                .map(|&(x, y)| (BigUint::from(a * x) << 200u8, BigUint::from(b * y) << 200u8))
                .collect();
            assert_fits_with_power(
                &format!("bernoulli_exp_big({a}/{b} scaled by 2^200)"),
                &model,
                n,
                30 + i as u64,
                0,
                [1, 2],
                |rng, j: usize| i64::from(bernoulli_exp_big(rng, &big[j].0, &big[j].1)),
            );
        }
    }

    #[test]
    fn bernoulli_exp_overflowing_d_times_k_splits() {
        // d = u128::MAX: d·k overflows from k = 2, so the split
        // Bernoulli(r/d) AND Bernoulli(1/k) is taken; r/d = 1/2 up to 2^-128.
        let mut rng = seeded(5);
        let model = Model::bernoulli((-0.5f64).exp());
        let (g, _, p) = model.p_value(60_000, || {
            i64::from(bernoulli_exp_fraction(&mut rng, u128::MAX / 2, u128::MAX))
        });
        assert!(p > ALPHA, "G = {g}, p = {p:e}");
    }
}
