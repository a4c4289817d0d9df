//! The discrete Gaussian N_Z(0, σ²): P(Z = z) ∝ exp(-z²/(2σ²)) for a rational
//! σ² > 0, exactly (CKS 2020, Alg. 3).
//!
//! Candidates come from the discrete Laplace of scale t = floor(σ) + 1
//! (Alg. 2) and are accepted with probability exp(-(|Y| − σ²/t)²/(2σ²)) by
//! Alg. 1 on that rational exponent, in `u128` or, where a product could
//! overflow, in big integers.

use num_bigint::BigUint;
use rand::Rng;

use super::bernoulli_exp::{bernoulli_exp_big, bernoulli_exp_u128};
use super::laplace::{discrete_laplace_parts, signed_saturating};
use super::Ratio;

/// The acceptance exponent of CKS Alg. 3 for σ² = s/d, t = floor(σ) + 1 and a
/// candidate |Y| = y:
///
/// (y − σ²/t)² / (2σ²) = (y·d·t − s)² / (2·s·d·t²),
///
/// as (numerator, denominator) in `u128`, or `None` if an intermediate product
/// overflows (then [`gaussian_exponent_big`] is used).
#[inline]
fn gaussian_exponent_u128(y: u128, s: u64, d: u64, t: u64) -> Option<(u128, u128)> {
    // d < 2^64 and t <= 2^32, so d·t < 2^96 and 2·s < 2^65: no overflow here.
    let dt = u128::from(d) * u128::from(t);
    let s = u128::from(s);
    let x = y.checked_mul(dt)?.abs_diff(s);
    let num = x.checked_mul(x)?;
    let den = (2 * s).checked_mul(dt)?.checked_mul(u128::from(t))?;
    Some((num, den))
}

/// [`gaussian_exponent_u128`] in exact big-integer arithmetic.
fn gaussian_exponent_big(y: u128, s: u64, d: u64, t: u64) -> (BigUint, BigUint) {
    let s = BigUint::from(s);
    let dt = BigUint::from(d) * BigUint::from(t);
    let a = BigUint::from(y) * &dt;
    let x = if a >= s { a - &s } else { &s - a };
    let num = &x * &x;
    let den = (s << 1u8) * dt * BigUint::from(t);
    (num, den)
}

/// t = floor(σ) + 1 for σ² = s/d (`d >= 1`). floor(sqrt(s/d)) equals
/// isqrt(floor(s/d)), an integer square root (no floating point), so
/// t <= isqrt(2^64 - 1) + 1 = 2^32.
#[inline]
fn gaussian_t(s: u64, d: u64) -> u64 {
    (s / d).isqrt() + 1
}

/// CKS Alg. 3 for σ² = s/d (`s, d >= 1`): returns (negative, |Z|).
///
/// Y ~ DLap(t) with t = floor(σ) + 1, accepted with probability
/// exp(-(|Y| − σ²/t)²/(2σ²)). `force_big` takes the big-integer path for every
/// candidate (tests only: it must give the same law as the fast path).
#[inline]
fn discrete_gaussian_parts<R: Rng + ?Sized>(
    rng: &mut R,
    s: u64,
    d: u64,
    force_big: bool,
) -> (bool, u128) {
    let t = gaussian_t(s, d);
    loop {
        let (negative, y) = discrete_laplace_parts(rng, t, 1);
        let fast = if force_big {
            None
        } else {
            gaussian_exponent_u128(y, s, d, t)
        };
        let accept = match fast {
            Some((num, den)) => bernoulli_exp_u128(rng, num, den),
            None => {
                let (num, den) = gaussian_exponent_big(y, s, d, t);
                bernoulli_exp_big(rng, &num, &den)
            }
        };
        if accept {
            return (negative, y);
        }
    }
}

/// Discrete Gaussian N_Z(0, σ²): P(Z = z) ∝ exp(-z²/(2σ²)), `σ² = num/den > 0`
/// (CKS 2020, Alg. 3), exactly.
///
/// |Z| is saturated at `i64::MAX` as in [`discrete_laplace`] (unreachable in
/// practice: it needs ~2^31 standard deviations). `sigma2.num = 0` (no noise)
/// returns 0; `sigma2.den = 0` is read as 1.
#[inline]
pub fn discrete_gaussian<R: Rng + ?Sized>(rng: &mut R, sigma2: Ratio) -> i64 {
    if sigma2.num == 0 {
        return 0;
    }
    let (negative, magnitude) =
        discrete_gaussian_parts(rng, sigma2.num, sigma2.den_or_one(), false);
    signed_saturating(negative, magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{assert_fits_with_power, scaled, seeded, Model};

    const N_GAUSS: usize = 20_000;
    /// Fewer samples where every acceptance step uses BigUint (slow in debug builds).
    const N_GAUSS_BIG: usize = 12_000;

    /// σ 10 % too large and too small: σ² times 1.21 and 0.81.
    fn sigma_off(sigma2: Ratio) -> [Ratio; 2] {
        [scaled(sigma2, 121, 100), scaled(sigma2, 81, 100)]
    }

    fn gaussian_fits(sigma2: Ratio, seed: u64, n: usize) {
        let model = Model::gaussian(sigma2, 50);
        assert_fits_with_power(
            &format!("discrete_gaussian({sigma2:?})"),
            &model,
            n,
            seed,
            sigma2,
            sigma_off(sigma2),
            discrete_gaussian,
        );
    }

    #[test]
    fn discrete_gaussian_fits_sigma_0_8() {
        gaussian_fits(Ratio { num: 16, den: 25 }, 50, N_GAUSS);
    }

    #[test]
    fn discrete_gaussian_fits_sigma_3() {
        gaussian_fits(Ratio { num: 9, den: 1 }, 51, N_GAUSS);
    }

    #[test]
    fn discrete_gaussian_fits_sigma_200() {
        gaussian_fits(
            Ratio {
                num: 40_000,
                den: 1,
            },
            52,
            N_GAUSS,
        );
    }

    #[test]
    fn discrete_gaussian_fits_a_non_integer_variance() {
        gaussian_fits(
            Ratio {
                num: 123_456_789,
                den: 1000,
            },
            53,
            N_GAUSS,
        );
    }

    #[test]
    fn discrete_gaussian_exact_fallback_fits_when_forced() {
        // Every acceptance step through BigUint, on small values.
        for (i, sigma2) in [Ratio { num: 16, den: 25 }, Ratio { num: 9, den: 1 }]
            .into_iter()
            .enumerate()
        {
            let model = Model::gaussian(sigma2, 50);
            assert_fits_with_power(
                &format!("discrete_gaussian_parts(force_big, {sigma2:?})"),
                &model,
                N_GAUSS_BIG,
                54 + i as u64,
                sigma2,
                sigma_off(sigma2),
                |rng, s| {
                    let (neg, y) = discrete_gaussian_parts(rng, s.num, s.den, true);
                    signed_saturating(neg, y)
                },
            );
        }
    }

    #[test]
    fn discrete_gaussian_fits_a_ratio_that_overflows_u128() {
        // σ² = (9·2^60 + 1)/2^60: 2·s·d·t² > 2^128, so every acceptance
        // exponent takes the BigUint path.
        let sigma2 = Ratio {
            num: (9 << 60) + 1,
            den: 1 << 60,
        };
        assert!(gaussian_exponent_u128(0, sigma2.num, sigma2.den, 4).is_none());
        gaussian_fits(sigma2, 56, N_GAUSS_BIG);
    }

    #[test]
    fn gaussian_exponent_fast_path_equals_the_exact_one() {
        let cases = [
            (9u64, 1u64),
            (16, 25),
            (40_000, 1),
            (123_456_789, 1000),
            ((31 << 40) + 5, 1 << 40),
            (u64::MAX, 1),
            (1, u64::MAX),
            (9 << 58, 1 << 58),
        ];
        for (s, d) in cases {
            let t = gaussian_t(s, d);
            for y in [
                0u128,
                1,
                2,
                3,
                17,
                1000,
                1 << 20,
                1 << 40,
                1 << 70,
                u128::MAX,
            ] {
                let (bn, bd) = gaussian_exponent_big(y, s, d, t);
                match gaussian_exponent_u128(y, s, d, t) {
                    Some((n, dd)) => {
                        assert_eq!(
                            (BigUint::from(n), BigUint::from(dd)),
                            (bn, bd),
                            "{s}/{d}, y = {y}"
                        );
                    }
                    None => assert!(
                        bn.bits() > 128
                            || bd.bits() > 128
                            || BigUint::from(y) * BigUint::from(d) * BigUint::from(t)
                                > BigUint::from(u128::MAX),
                        "needless fallback at {s}/{d}, y = {y}"
                    ),
                }
            }
        }
        // A huge candidate must be rejected (exp(-γ) with γ ~ 2^250), not panic.
        let mut rng = seeded(57);
        let (n, d) = gaussian_exponent_big(u128::MAX, 9, 1, 4);
        assert!(!bernoulli_exp_big(&mut rng, &n, &d));
    }

    #[test]
    fn gaussian_t_is_floor_sigma_plus_one() {
        for (s, d) in [
            (9u64, 1u64),
            (8, 1),
            (10, 1),
            (16, 25),
            (1, 1),
            (1, 2),
            (u64::MAX, 1),
            (u64::MAX, 3),
            (1, u64::MAX),
        ] {
            let t = u128::from(gaussian_t(s, d));
            // (t-1)² <= s/d < t²
            assert!(
                (t - 1) * (t - 1) * u128::from(d) <= u128::from(s),
                "{s}/{d}: t = {t}"
            );
            assert!(u128::from(s) < t * t * u128::from(d), "{s}/{d}: t = {t}");
        }
    }
}
